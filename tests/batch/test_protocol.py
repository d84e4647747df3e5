"""The batch engine's view of a client: ``BatchClient``, which ``SymblClient`` satisfies."""

from __future__ import annotations

import pytest

from symbl_async.batch import BatchClient, process_many
from symbl_async.client._client import SymblClient
from symbl_async.errors import ValidationError


async def test_symbl_client_is_a_batch_client() -> None:
    async with SymblClient(app_id="id", app_secret="secret") as real:
        # The annotation is the real check: mypy --strict (run on tests/) verifies that
        # SymblClient matches the Protocol member by member, signatures included.
        client: BatchClient = real
        assert isinstance(client, BatchClient)


def test_process_many_refuses_what_is_not_a_batch_client() -> None:
    assert not isinstance(object(), BatchClient)
    with pytest.raises(ValidationError) as info:
        process_many(object(), [])  # type: ignore[arg-type]
    assert info.value.field == "client"
