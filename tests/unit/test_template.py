from pathlib import Path

import pytest

from harness.template import Intrinsic, TemplateError, load_template, project_template

MINIMAL = """
Parameters:
  Topic: {Type: String, Default: a.b}
  Port: {Type: Number, Default: 9092}
Metadata:
  Paygate::KafkaTopics:
    - {Name: a.b, Partitions: 3}
Globals:
  Function:
    Environment:
      Variables:
        TOPIC: !Ref Topic
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          URL: !Sub "kafka://${Topic}:${Port}"
          TOPIC: !Ref Topic
  Other:
    Type: AWS::SNS::Topic
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_intrinsic_tags_load_and_resolve_against_parameter_defaults(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, MINIMAL))
    env = t.function_environment("Fn")
    assert env["TOPIC"] == Intrinsic("Ref", "Topic")
    assert t.resolve(env["URL"]) == "kafka://a.b:9092"
    assert t.resolve(env["TOPIC"], {"Topic": "x.y"}) == "x.y"
    assert list(t.functions()) == ["Fn"]


def test_unresolvable_intrinsic_is_an_error(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, MINIMAL))
    with pytest.raises(TemplateError, match="GetAtt"):
        t.resolve(Intrinsic("GetAtt", "Fn.Arn"))


def test_unknown_function_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="Nope"):
        load_template(write(tmp_path, MINIMAL)).function_environment("Nope")


@pytest.mark.parametrize(
    "topics",
    ["[]", "[{Name: a, Partitions: 0}]", "[{Name: a}]", "[{Partitions: 2}]"],
)
def test_bad_topic_lists_are_rejected(tmp_path: Path, topics: str) -> None:
    t = load_template(write(tmp_path, f"Metadata:\n  Paygate::KafkaTopics: {topics}\n"))
    with pytest.raises(TemplateError):
        t.kafka_topics()


def test_malformed_yaml_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError):
        load_template(write(tmp_path, "a: [unclosed"))


def test_project_template_lists_every_topic_the_settings_name() -> None:
    t = project_template()
    names = {topic.name for topic in t.kafka_topics()}
    for param in ("PaymentRequestedTopic", "PaymentProcessedTopic"):
        assert t.parameters[param] in names
