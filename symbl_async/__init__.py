"""symbl_async: an asyncio-native client for the Symbl.ai Async API."""
