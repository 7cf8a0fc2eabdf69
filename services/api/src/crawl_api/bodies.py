"""Request bodies documented by their validators' own JSON Schema.

Litestar translates a pydantic model into OpenAPI itself, and loses constraints on the way:
bounds of ``0`` (``ge=0``, ``gt=0``), the constraints of list items, ``extra="forbid"``,
``json_schema_extra``. A client (or a schema-driven tester) then sends bodies the document
allows and the API refuses. ``ValidatorSchemas`` gives the models it is made with the schema
pydantic derives from the validators themselves, references inlined.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from litestar.openapi.spec import Schema
from litestar.plugins import OpenAPISchemaPlugin
from pydantic import BaseModel

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

__all__ = ["ValidatorSchemas"]

_NAMES = {f.name for f in fields(Schema)}
_ALIASES = Schema.field_aliases()  # JSON Schema keyword -> Schema field
_SCHEMA_LISTS = {"all_of", "any_of", "one_of", "prefix_items"}
_SCHEMA_VALUES = {"items", "schema_not", "contains", "additional_properties"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class ValidatorSchemas(OpenAPISchemaPlugin):
    """Documents ``models`` by ``model_json_schema()`` (validation mode)."""

    def __init__(self, *models: type[BaseModel]) -> None:
        self._models = models

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation in self._models

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        model: type[BaseModel] = field_definition.annotation
        document = model.model_json_schema(mode="validation")
        return _schema(_inlined(document, document.pop("$defs", {})))


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by ``X`` (sibling keywords kept)."""
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _inlined({**definitions[ref.removeprefix("#/$defs/")], **siblings}, definitions)
    return {key: _inlined(value, definitions) for key, value in node.items()}


def _schema(node: dict[str, Any]) -> Schema:
    """The Litestar ``Schema`` of a JSON Schema object (keywords it has no field for dropped)."""
    kwargs: dict[str, Any] = {}
    for keyword, value in node.items():
        name = _ALIASES.get(keyword) or _CAMEL.sub("_", keyword).lower()
        if name in _SCHEMA_LISTS:
            kwargs[name] = [_schema(item) for item in value]
        elif name in _SCHEMA_VALUES and isinstance(value, dict):
            kwargs[name] = _schema(value)
        elif name == "properties":
            kwargs[name] = {key: _schema(item) for key, item in value.items()}
        elif name in _NAMES:
            kwargs[name] = value
    return Schema(**kwargs)
