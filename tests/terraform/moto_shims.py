"""What moto 5.2.5's server lacks for the AWS provider to apply examples/complete, added in-process.

Each gap was measured against ThreadedMotoServer; the provider would fail on it (waiting for a lifecycle
configuration that never reads back equal, or a plan-time call moto does not implement):

- S3 drops ``ObjectSizeGreaterThan``/``ObjectSizeLessThan`` from a lifecycle rule's ``And`` filter;
- Lambda does not keep ``LoggingConfig``;
- Step Functions has no ``ValidateStateMachineDefinition`` and no ``ListStateMachineVersions``;
- a policy condition on a key the request does not carry (moto knows neither ``aws:SecureTransport`` nor
  ``s3:TlsVersion``) counts as met, so the bucket's deny statements for plain HTTP and old TLS deny every
  request to the moto server; on AWS a condition on a missing key is not met (bar ``...IfExists``, which
  this module does not use), and a TLS 1.2+ request is not denied.

``apply(monkeypatch)`` patches the classes of the moto server running in this process (the server of
ThreadedMotoServer shares them); the monkeypatch undoes it.
"""

from __future__ import annotations

from typing import Any

import pytest

SIZE_PREDICATES = ("ObjectSizeGreaterThan", "ObjectSizeLessThan")


def apply(monkeypatch: pytest.MonkeyPatch) -> None:
    _s3_lifecycle_object_size(monkeypatch)
    _lambda_logging_config(monkeypatch)
    _stepfunctions_validation_and_versions(monkeypatch)
    _conditions_on_missing_keys_are_not_met(monkeypatch)


def _s3_lifecycle_object_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    set_lifecycle = FakeBucket.set_lifecycle
    get_bucket_lifecycle = S3Response.get_bucket_lifecycle

    def set_lifecycle_keeping_sizes(self: Any, rules: list[dict[str, Any]]) -> None:
        set_lifecycle(self, rules)
        for model, raw in zip(self.rules, rules, strict=True):
            and_filter = (raw.get("Filter") or {}).get("And") or {}
            sizes = {name: int(and_filter[name]) for name in SIZE_PREDICATES if name in and_filter}
            if sizes and model.filter is not None and model.filter.and_filter is not None:
                model.filter.and_filter.object_sizes = sizes

    def get_bucket_lifecycle_with_sizes(self: Any) -> Any:
        serialized = self.serialized

        def add_sizes(action_result: Any) -> Any:
            models = self.backend.get_bucket_lifecycle(self.bucket_name)
            for rule, model in zip(action_result.result["Rules"], models, strict=True):
                sizes = getattr(getattr(model.filter, "and_filter", None), "object_sizes", None)
                if sizes:
                    rule["Filter"]["And"].update(sizes)
            return serialized(action_result)

        self.serialized = add_sizes
        try:
            return get_bucket_lifecycle(self)
        finally:
            del self.serialized

    monkeypatch.setattr(FakeBucket, "set_lifecycle", set_lifecycle_keeping_sizes)
    monkeypatch.setattr(S3Response, "get_bucket_lifecycle", get_bucket_lifecycle_with_sizes)


def _lambda_logging_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda.models import LambdaFunction

    init = LambdaFunction.__init__
    update_configuration = LambdaFunction.update_configuration
    get_configuration = LambdaFunction.get_configuration

    def init_keeping_logging_config(
        self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        init(self, account_id, spec, *args, **kwargs)
        self.logging_config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
        self.logging_config.update(spec.get("LoggingConfig") or {})

    def update_keeping_logging_config(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if config_updates.get("LoggingConfig"):
            self.logging_config = {**self.logging_config, **config_updates["LoggingConfig"]}
        return update_configuration(self, config_updates)

    def configuration_with_logging_config(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        configuration = get_configuration(self, *args, **kwargs)
        configuration["LoggingConfig"] = getattr(self, "logging_config", {"LogFormat": "Text"})
        return configuration

    monkeypatch.setattr(LambdaFunction, "__init__", init_keeping_logging_config)
    monkeypatch.setattr(LambdaFunction, "update_configuration", update_keeping_logging_config)
    monkeypatch.setattr(LambdaFunction, "get_configuration", configuration_with_logging_config)


def _stepfunctions_validation_and_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> ActionResult:
        return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})

    def list_state_machine_versions(self: Any) -> ActionResult:
        return ActionResult({"stateMachineVersions": []})

    monkeypatch.setattr(
        StepFunctionResponse,
        "validate_state_machine_definition",
        validate_state_machine_definition,
        raising=False,
    )
    monkeypatch.setattr(
        StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions, raising=False
    )


def _conditions_on_missing_keys_are_not_met(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    is_action_permitted = IAMPolicyStatement.is_action_permitted

    def permitted_only_when_the_condition_keys_are_known(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        keys = {key for operator in (self._statement.get("Condition") or {}).values() for key in operator}
        if not keys <= set(incoming_condition_values or {}):
            return PermissionResult.NEUTRAL
        return is_action_permitted(self, action, resource, principal, incoming_condition_values)

    monkeypatch.setattr(
        IAMPolicyStatement, "is_action_permitted", permitted_only_when_the_condition_keys_are_known
    )
