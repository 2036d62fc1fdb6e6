"""The domain's request in Gemini's terms: ``contents`` of parts, ``tools`` of function
declarations, ``tool_config`` and structured output.

- System messages go to ``system_instruction``; the assistant's role is ``model``.
- An assistant's tool calls are ``function_call`` parts (arguments parsed into ``args``); the
  results are ``function_response`` parts of one ``user`` content. Gemini has no call ids:
  ours stay in the domain and a result is matched by order and by name (the tool message's
  ``name``, else the name of the call its ``tool_call_id`` answers).
- Gemini 3 checks a ``thought_signature`` on the first call of a model turn. The gateway
  does not keep Gemini's signatures (the history may come from any provider), so that part
  carries the validator-skipping signature Google documents for replayed histories.
- Images: a data URL is ``inline_data``, any other URL ``file_data``.
- ``response_format`` is ``response_mime_type`` ``application/json``, with the schema as
  ``response_json_schema``; tool parameters go as ``parameters_json_schema``, so JSON Schema
  is passed as it is rather than through Gemini's OpenAPI subset.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterable
from typing import Any, Final

from src.domain.llm import ChatMessage, ChatRequest, ForcedTool, ImagePart, TextPart
from src.infrastructure.llm_providers.payloads import data_url, declaration, json_object

#: Google's signature for a function call whose own signature was not kept.
SKIP_SIGNATURE: Final = b"skip_thought_signature_validator"
_MODE: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
#: The OpenAI option names that Gemini's config calls otherwise.
OPTION_NAMES: Final = {
    "stop": "stop_sequences",
    "logprobs": "response_logprobs",
    "top_logprobs": "logprobs",
}


def contents(conversation: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation as content dicts, which the SDK validates once into its models.

    Passing ``types.Content`` instances instead costs more, not less: the SDK's models
    re-check every field of an instance handed to them (``_check_field_type_mismatches``).
    """
    names: dict[str, str] = {}  # call id -> function name, for results without a name
    built: list[dict[str, Any]] = []
    for message in conversation:
        for call in message.tool_calls:
            names[call.id] = call.name
        if message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "", "")
            part = {
                "function_response": {
                    "name": name,
                    "response": json_object(message.content, "result"),
                }
            }
            if built and built[-1].get("results"):
                built[-1]["parts"].append(part)
            else:
                built.append({"role": "user", "parts": [part], "results": True})
            continue
        role = "model" if message.role == "assistant" else "user"
        built.append({"role": role, "parts": _parts(message)})
    for content in built:
        content.pop("results", None)
    return built


def config_fields(request: ChatRequest) -> dict[str, Any]:
    """The ``GenerateContentConfig`` fields for tools, structured output and options."""
    fields: dict[str, Any] = {
        OPTION_NAMES.get(name, name): value for name, value in request.options.items()
    }
    if isinstance(stop := fields.get("stop_sequences"), str):
        fields["stop_sequences"] = [stop]
    if request.tools:
        fields["tools"] = [
            {
                "function_declarations": [
                    declaration(t, "parameters_json_schema") for t in request.tools
                ]
            }
        ]
    if (choice := request.tool_choice) is not None:
        forced = isinstance(choice, ForcedTool)
        calling: dict[str, Any] = {"mode": "ANY" if forced else _MODE[str(choice)]}
        if isinstance(choice, ForcedTool):
            calling["allowed_function_names"] = [choice.name]
        fields["tool_config"] = {"function_calling_config": calling}
    if (wanted := request.response_format) is not None:
        fields["response_mime_type"] = "application/json"
        if wanted.schema is not None:
            fields["response_json_schema"] = dict(wanted.schema)
    return fields


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    parts = [_part(p) for p in message.parts] or (
        [{"text": message.content}] if message.content or not message.tool_calls else []
    )
    for number, call in enumerate(message.tool_calls):
        part: dict[str, Any] = {
            "function_call": {"name": call.name, "args": json_object(call.arguments, "input")}
        }
        if number == 0:
            part["thought_signature"] = SKIP_SIGNATURE
        parts.append(part)
    return parts


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    inline = data_url(part.url)
    if inline is not None:
        mime_type, data = inline
        return {"inline_data": {"mime_type": mime_type, "data": base64.b64decode(data)}}
    mime_type = mimetypes.guess_type(part.url)[0] or "image/jpeg"
    return {"file_data": {"file_uri": part.url, "mime_type": mime_type}}
