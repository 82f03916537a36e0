"""Reads template.yaml, the single source of truth for the harness's wiring.

CloudFormation short-form tags (`!Ref`, `!Sub`, `!GetAtt`...) are kept as `Intrinsic` values;
`resolve()` evaluates the few the harness needs (`!Ref` of a parameter, `!Sub` of parameters)
against the parameters' defaults, or overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class TemplateError(ValueError):
    """template.yaml is missing something the harness needs, or is malformed."""


@dataclass(frozen=True)
class Intrinsic:
    tag: str
    value: Any


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Intrinsic:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return Intrinsic(tag_suffix, value)


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@dataclass(frozen=True)
class KafkaTopic:
    name: str
    partitions: int


@dataclass(frozen=True)
class Template:
    doc: Mapping[str, Any]

    @property
    def parameters(self) -> dict[str, str]:
        """Parameter name → default value (as a string)."""
        params = self.doc.get("Parameters", {}) or {}
        return {name: str(spec.get("Default", "")) for name, spec in params.items()}

    def functions(self) -> dict[str, Mapping[str, Any]]:
        resources = self.doc.get("Resources", {}) or {}
        return {
            name: res.get("Properties", {})
            for name, res in resources.items()
            if res.get("Type") == "AWS::Serverless::Function"
        }

    def function_environment(self, function: str) -> dict[str, Any]:
        """Environment variables of one function: Globals merged with its own (raw values)."""
        functions = self.functions()
        if function not in functions:
            raise TemplateError(f"no function {function!r} in template.yaml")
        glob = (self.doc.get("Globals", {}) or {}).get("Function", {}) or {}
        env = dict(((glob.get("Environment") or {}).get("Variables")) or {})
        env.update(((functions[function].get("Environment") or {}).get("Variables")) or {})
        return env

    def kafka_topics(self) -> list[KafkaTopic]:
        meta = (self.doc.get("Metadata", {}) or {}).get("Paygate::KafkaTopics")
        if not isinstance(meta, list) or not meta:
            raise TemplateError("template.yaml: Metadata.Paygate::KafkaTopics must list topics")
        topics = []
        for entry in meta:
            name, partitions = entry.get("Name"), entry.get("Partitions")
            if not isinstance(name, str) or not isinstance(partitions, int) or partitions < 1:
                raise TemplateError(f"template.yaml: bad topic entry {entry!r}")
            topics.append(KafkaTopic(name, partitions))
        return topics

    def resolve(self, value: Any, overrides: Mapping[str, str] | None = None) -> Any:
        """Evaluate `!Ref <Parameter>` and `!Sub` over parameters; other values pass through."""
        params = {**self.parameters, **(overrides or {})}
        if isinstance(value, Intrinsic):
            if value.tag == "Ref" and value.value in params:
                return params[value.value]
            if value.tag == "Sub" and isinstance(value.value, str):
                return re.sub(
                    r"\$\{([A-Za-z0-9]+)\}",
                    lambda m: params.get(m.group(1), m.group(0)),
                    value.value,
                )
            raise TemplateError(f"cannot resolve !{value.tag} {value.value!r} locally")
        if isinstance(value, list):
            return [self.resolve(v, overrides) for v in value]
        return value


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    try:
        doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise TemplateError(f"{path} is not a mapping")
    return Template(doc)


@lru_cache(maxsize=1)
def project_template() -> Template:
    return load_template()
