"""src/handler/runtime/models/: botocore's CloudFormation model cut down to the two calls that confirm a
request (lint/service_models.py), which the function's CloudFormation client loads instead of
the whole one. Every other test sends its confirmations through that client."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lint import service_models
from runtime.clients import TRIMMED_OPERATIONS, aws_client, elasticache_client


def test_the_models_are_botocores_own_cut_down() -> None:
    assert service_models.main(["--check"]) == 0


def test_the_check_fails_on_an_edited_model_and_on_one_botocore_does_not_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(service_models.MODELS, models)
    monkeypatch.setattr(service_models, "MODELS", models)
    monkeypatch.setattr(service_models, "ROOT", tmp_path)
    [model] = models.rglob("service-2.json")
    model.write_text(model.read_text().replace('"DescribeStacks"', '"DescribeStackz"'))
    (models / "ssm" / "2014-11-06").mkdir(parents=True)
    (models / "ssm" / "2014-11-06" / "service-2.json").write_text("{}")

    assert service_models.main(["--check"]) == 1
    printed = capsys.readouterr().out
    assert "models/cloudformation/2010-05-15/service-2.json: not what botocore's model gives" in printed
    assert "models/ssm/2014-11-06/service-2.json" in printed


def test_a_cut_keeps_the_operations_and_every_shape_they_reach_without_documentation() -> None:
    model = {
        "metadata": {"serviceId": "Example", "protocol": "query"},
        "operations": {
            "Keep": {"name": "Keep", "input": {"shape": "In"}, "errors": [{"shape": "Oops"}], "documentation": "d"},
            "Drop": {"name": "Drop", "input": {"shape": "Unused"}},
        },
        "shapes": {
            "In": {"type": "structure", "members": {"Items": {"shape": "List", "documentation": "d"}}},
            "List": {"type": "list", "member": {"shape": "Text"}},
            "Text": {"type": "string"},
            "Oops": {"type": "structure", "members": {}, "exception": True},
            "Unused": {"type": "string"},
        },
    }

    cut = service_models.trimmed(model, ("Keep",))

    assert list(cut["operations"]) == ["Keep"]
    assert sorted(cut["shapes"]) == ["In", "List", "Oops", "Text"]
    assert "documentation" not in str(cut)
    assert cut["metadata"] == model["metadata"]
    with pytest.raises(SystemExit, match=r"no \['Missing'\]"):
        service_models.trimmed(model, ("Keep", "Missing"))


def test_only_the_cloudformation_client_is_cut_down() -> None:
    cloudformation = aws_client("cloudformation", 5.0)
    assert sorted(cloudformation.meta.service_model.operation_names) == sorted(TRIMMED_OPERATIONS["cloudformation"])
    assert {"DeleteUser", "ModifyUserGroup"} <= set(elasticache_client(None, 5.0).meta.service_model.operation_names)
    assert "PutParameter" in aws_client("ssm", 5.0).meta.service_model.operation_names
