"""ProcessingOptions: documented rules and both wire forms."""

import json

import pytest

from symbl_async import (
    ChannelMetadata,
    CustomEntity,
    ProcessingOptions,
    Speaker,
    Tracker,
    ValidationError,
)


def test_defaults_send_nothing() -> None:
    opts = ProcessingOptions()
    assert opts.to_json() == {}
    assert opts.to_query() == {}


@pytest.mark.parametrize("value", [0.5, 0.75, 1.0, 1])
def test_confidence_threshold_in_range(value: float) -> None:
    assert ProcessingOptions(confidence_threshold=value).to_json() == {"confidenceThreshold": value}


@pytest.mark.parametrize("value", [0.49, 1.01, -1, 2])
def test_confidence_threshold_out_of_range(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(confidence_threshold=value)
    assert info.value.field == "confidence_threshold"
    assert "between 0.5 and 1.0" in info.value.rule


def test_confidence_threshold_type() -> None:
    with pytest.raises(ValidationError, match="confidence_threshold"):
        ProcessingOptions(confidence_threshold="0.7")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="confidence_threshold"):
        ProcessingOptions(confidence_threshold=True)


def test_mode() -> None:
    assert ProcessingOptions(mode="phone").to_json() == {"mode": "phone"}
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(mode="studio")  # type: ignore[arg-type]
    assert info.value.field == "mode"
    assert "'phone' or 'default'" in str(info.value)


def test_channel_metadata_needs_separate_recognition() -> None:
    meta = [ChannelMetadata(channel=1, speaker=Speaker(name="Robert"))]
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(channel_metadata=meta)
    assert info.value.field == "channel_metadata"
    assert "enable_separate_recognition_per_channel" in info.value.rule
    opts = ProcessingOptions(enable_separate_recognition_per_channel=True, channel_metadata=meta)
    assert opts.to_json()["channelMetadata"] == [{"channel": 1, "speaker": {"name": "Robert"}}]


def test_channel_metadata_rules() -> None:
    with pytest.raises(ValidationError, match=r"channel_metadata\.channel"):
        ChannelMetadata(channel=0, speaker=Speaker(name="x"))
    with pytest.raises(ValidationError, match="distinct"):
        ProcessingOptions(
            enable_separate_recognition_per_channel=True,
            channel_metadata=[
                {"channel": 1, "speaker": {"name": "a"}},
                {"channel": 1, "speaker": {"name": "b"}},
            ],
        )


def test_diarization_rules() -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(diarization_speaker_count=2)
    assert info.value.field == "diarization_speaker_count"
    with pytest.raises(ValidationError, match=">= 1"):
        ProcessingOptions(enable_speaker_diarization=True, diarization_speaker_count=0)
    with pytest.raises(ValidationError, match="English and Spanish"):
        ProcessingOptions(enable_speaker_diarization=True, language_code="fr-FR")
    ok = ProcessingOptions(
        enable_speaker_diarization=True, diarization_speaker_count=3, language_code="es-ES"
    )
    assert ok.to_query() == {
        "languageCode": "es-ES",
        "enableSpeakerDiarization": "true",
        "diarizationSpeakerCount": "3",
    }


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(webhook_url="ftp://example.com/hook")
    assert info.value.field == "webhook_url"
    with pytest.raises(ValidationError, match="webhook_url"):
        ProcessingOptions(webhook_url="https://")


def test_empty_strings_refused() -> None:
    with pytest.raises(ValidationError, match="name"):
        ProcessingOptions(name="  ")
    with pytest.raises(ValidationError, match="custom_vocabulary"):
        ProcessingOptions(custom_vocabulary=["ok", ""])
    with pytest.raises(ValidationError, match="custom_vocabulary"):
        ProcessingOptions(custom_vocabulary="Platform")
    with pytest.raises(ValidationError, match=r"trackers\.vocabulary"):
        Tracker(name="promo", vocabulary=[])
    with pytest.raises(ValidationError, match="language_code"):
        ProcessingOptions(language_code="english please")


def test_full_option_set_in_json_and_query() -> None:
    opts = ProcessingOptions(
        name="Business Meeting",
        webhook_url="https://example.com/hook",
        custom_vocabulary=["Platform", "Discussion"],
        confidence_threshold=0.6,
        detect_phrases=True,
        entities=[CustomEntity(custom_type="Company Executives", text="Marketing director")],
        detect_entities=True,
        language_code="en-US",
        mode="phone",
        trackers=[{"name": "Promotion Mention", "vocabulary": ["special promotion"]}],
        enable_all_trackers=False,
        enable_summary=True,
    )
    body = opts.to_json()
    assert body["customVocabulary"] == ["Platform", "Discussion"]
    assert body["entities"] == [{"customType": "Company Executives", "text": "Marketing director"}]
    assert body["trackers"] == [{"name": "Promotion Mention", "vocabulary": ["special promotion"]}]
    assert body["enableAllTrackers"] is False
    query = opts.to_query()
    assert query["detectPhrases"] == "true"
    assert query["enableAllTrackers"] == "false"
    assert query["confidenceThreshold"] == "0.6"
    assert json.loads(query["customVocabulary"]) == ["Platform", "Discussion"]
    assert json.loads(query["trackers"]) == body["trackers"]
    assert all(isinstance(v, str) for v in query.values())


def test_from_json_round_trip_and_unknown_key() -> None:
    data = {"name": "x", "confidenceThreshold": 0.9, "detectEntities": True}
    assert ProcessingOptions.from_json(data).to_json() == data
    with pytest.raises(ValidationError) as info:
        ProcessingOptions.from_json({"confidence": 0.9})
    assert info.value.field == "confidence"


def test_speech_only_options_refused_for_text() -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(mode="phone").check_for_text()
    assert info.value.field == "mode"
    ProcessingOptions(name="chat", detect_phrases=True).check_for_text()


def test_options_are_frozen_and_hashable() -> None:
    a = ProcessingOptions(custom_vocabulary=["a"], trackers=[Tracker(name="t", vocabulary=["v"])])
    assert hash(a) == hash(ProcessingOptions(custom_vocabulary=("a",), trackers=a.trackers))
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    assert a.replace(name="n").name == "n"
    with pytest.raises(ValidationError):
        a.replace(confidence_threshold=3)


def test_webhook_url_is_redacted_in_repr() -> None:
    opts = ProcessingOptions(webhook_url="https://hooks.example.net/symbl/webhooks/s3cr3t-token")
    assert "s3cr3t-token" not in repr(opts)
    assert "webhook_url='***'" in repr(opts)
    assert opts.to_json()["webhookUrl"].endswith("s3cr3t-token")


def test_metadata_is_sent_at_submit_in_body_and_query() -> None:
    labels = {"agentId": "johndoe", "tags": ["sales", "q3"], "score": 4}
    opts = ProcessingOptions(name="call", metadata=labels)

    assert opts.to_json() == {"name": "call", "metadata": labels}
    assert opts.to_query()["metadata"] == '{"agentId":"johndoe","tags":["sales","q3"],"score":4}'
    assert ProcessingOptions.from_json({"metadata": labels}) == ProcessingOptions(metadata=labels)
    opts.check_for_text()  # metadata is for text submits too
    labels["agentId"] = "changed later"
    assert opts.metadata is not None and opts.metadata["agentId"] == "johndoe"
    assert hash(opts) == hash(ProcessingOptions(name="call", metadata={"other": 1}))


@pytest.mark.parametrize(
    "metadata",
    [["agentId"], {"": "x"}, {3: "x"}, {"a": {1, 2}}, {"a": float("inf")}],
)
def test_bad_metadata_is_refused(metadata: object) -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(metadata=metadata)
    assert info.value.field == "metadata"
