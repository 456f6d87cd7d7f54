"""IAM as AWS enforces it, on the tier's moto server: each call made with credentials of a role the tier
minted is authorized against that role's policies as they are now in moto's IAM backend (inline and
attached, the permissions boundary) and the resource's policy (the bucket's, the topic's), on the call's
real resource ARN and with the condition keys AWS sets. A denied call fails as AWS fails it.

moto's own enforcement is not used: it judges every non-S3 call on resource "*", knows only StringEquals,
answers JSON-protocol services with an XML 403 botocore reads as code "403", and crashes AssumeRole on a
role trusted only by a Service principal. So:

- credentials are minted from moto's STS backend directly (``Enforcer.mint``), no AssumeRole call;
- one moto name is patched, ``ActionAuthenticatorMixin._authenticate_and_authorize_action``, which every
  service's dispatch calls before it acts (test_iam_enforcement.py guards the name and the call);
- calls signed with any other key (the tests' own clients, terraform, moto's Step Functions executor, which
  signs with fixed keys) are not judged; a key that is neither minted nor the tests' is refused, so a
  Lambda thread that missed its role's credentials fails loudly instead of running unjudged;
- every decision is written to the ledger: (principal, action, resource, allowing statement).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

import pytest
from werkzeug.exceptions import HTTPException

from tests.terraform.iam_policy import Decision, Policy, Request, evaluate

# The key the tier sets in the environment of its Lambda threads: a client created without its role's
# credentials signs with it and is refused (InvalidClientTokenId), never served unjudged.
NO_ROLE_ACCESS_KEY = "AKIANOROLECREDENTIAL"

# boto3 service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"stepfunctions": "states", "lambda": "lambda"}
# (service, operation) -> IAM action, where the action is not the operation's name (Service
# Authorization Reference, "Actions defined by ...").
S3_ACTIONS = {
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListParts": "ListMultipartUploadParts",
    "DeleteObjects": "DeleteObject",
}
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction"}
# The error code AWS answers a denied call with, and its HTTP status (each service's API reference).
DENIAL = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "lambda": ("AccessDeniedException", 403),
    "dynamodb": ("AccessDeniedException", 400),
    "stepfunctions": ("AccessDeniedException", 400),
}


@dataclass(frozen=True)
class Session:
    role_name: str
    role_arn: str
    session_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class Entry:
    """One line of the ledger."""

    principal: str
    action: str
    resource: str
    allowed: bool
    statement: str  # the allowing (or denying) statement's label, or the reason of an implicit deny
    scenario: str = ""  # what the tier was running (Enforcer.scenario), for the mutation run to replay


@dataclass(frozen=True)
class Call:
    """What one request asks IAM: the action and each resource it acts on, and its condition keys."""

    service: str
    operation: str
    action: str
    resources: tuple[str, ...]
    context: dict[str, str]
    head: bool = False


class Denied(Exception):
    """Raised inside moto's dispatch; ``respond`` turns it into the AWS error response."""

    def __init__(
        self, service: str, message: str, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        default_code, default_status = DENIAL.get(service, ("AccessDeniedException", 400))
        self.service, self.code, self.status = service, code or default_code, status or default_status


@dataclass
class Enforcer:
    account: str
    region: str
    sessions: dict[str, Session] = field(default_factory=dict)
    ledger: list[Entry] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    scenario: str = ""

    # --- credentials --------------------------------------------------------------------------------

    def mint(self, role_name: str, session_name: str) -> Session:
        """Credentials of the role, from moto's STS backend directly: the AssumeRole API crashes moto on a
        role trusted by a Service principal when enforcement is on."""
        from moto.sts.models import sts_backends

        role_arn = f"arn:aws:iam::{self.account}:role/{role_name}"
        assumed = sts_backends[self.account]["aws"].assume_role(
            region_name=self.region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        session = Session(
            role_name,
            role_arn,
            f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{session_name}",
            assumed.access_key_id,
            assumed.secret_access_key,
            assumed.session_token,
        )
        with self.lock:
            self.sessions[session.access_key_id] = session
        return session

    # --- policies as they are now -------------------------------------------------------------------

    def role_policies(self, role_name: str) -> list[Policy]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account]["aws"]
        role = backend.get_role(role_name)
        policies = [
            Policy.parse(f"role/{role_name}:inline/{name}", unquote(document))
            for name, document in sorted(role.policies.items())
        ]
        for arn, managed in sorted(role.managed_policies.items()):
            (version,) = [v for v in managed.versions if v.is_default]
            policies.append(Policy.parse(arn, unquote(version.document)))
        if role.permissions_boundary:
            managed = backend.get_policy(role.permissions_boundary)
            (version,) = [v for v in managed.versions if v.is_default]
            policies.append(Policy.parse(role.permissions_boundary, unquote(version.document), "boundary"))
        return policies

    def resource_policy(self, service: str, resource: str) -> Policy | None:
        if service == "s3":
            from moto.s3.models import s3_backends

            bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            policy = s3_backends[self.account]["aws"].get_bucket_policy(bucket)
            return Policy.parse(f"bucket-policy:{bucket}", policy.decode(), "resource") if policy else None
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[self.account][self.region].get_topic(resource)
            return Policy.parse(f"topic-policy:{resource.rsplit(':', 1)[-1]}", topic.policy, "resource")
        return None

    # --- decisions ----------------------------------------------------------------------------------

    def decide(self, session: Session, call: Call, resource: str, context: dict[str, str]) -> Decision:
        policies = self.role_policies(session.role_name)
        resource_policy = self.resource_policy(call.service, resource)
        if resource_policy is not None:
            policies.append(resource_policy)
        request = Request(session.role_arn, session.session_arn, self.account, call.action, resource, context)
        decision = evaluate(request, policies)
        label = decision.statement.label() if decision.statement else decision.reason
        with self.lock:
            entry = Entry(session.role_name, call.action, resource, decision.allowed, label, self.scenario)
            self.ledger.append(entry)
        return decision

    def authorize(self, session: Session, call: Call, object_exists: Callable[[str], bool]) -> None:
        for resource in call.resources:
            decision = self.decide(session, call, resource, call.context)
            if not decision.allowed:
                raise Denied(call.service, denial_message(session, call.action, resource, decision))
            if call.service == "s3" and call.action == "s3:GetObject" and not object_exists(resource):
                # S3 GetObject/HeadObject: "If you don't have the s3:ListBucket permission, Amazon S3
                # returns an HTTP status code 403 (Access Denied)" for a key that does not exist.
                bucket = resource.split("/", 1)[0]
                listing = Call("s3", call.operation, "s3:ListBucket", (bucket,), dict(call.context))
                listed = self.decide(session, listing, bucket, listing.context)
                if not listed.allowed:
                    raise Denied("s3", denial_message(session, "s3:ListBucket", bucket, listed))

    def check(self, session: Session, action: str, resource: str) -> Decision:
        """A need the tier derives (from the ASL, the API integration, the platform) judged as a call."""
        service = {"states": "stepfunctions"}.get(action.split(":", 1)[0], action.split(":", 1)[0])
        context = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
        return self.decide(session, Call(service, "", action, (resource,), context), resource, context)

    @contextmanager
    def running(self, scenario: str) -> Iterator[None]:
        previous, self.scenario = self.scenario, scenario
        try:
            yield
        finally:
            self.scenario = previous

    def entries(self, allowed: bool | None = True) -> list[Entry]:
        with self.lock:
            return [entry for entry in self.ledger if allowed is None or entry.allowed is allowed]

    def ledger_table(self) -> str:
        rows = sorted({(e.principal, e.action, e.resource, e.statement) for e in self.entries()})
        width = max((len(row[0]) for row in rows), default=9)
        lines = [f"{p:<{width}}  {a:<28} {r}\n{'':<{width}}  {'':<28} allowed by {s}" for p, a, r, s in rows]
        return "\n".join(lines)


def denial_message(session: Session, action: str, resource: str, decision: Decision) -> str:
    """AWS's wording of a denial (IAM User Guide, troubleshoot_access-denied)."""
    if decision.reason == "explicit deny":
        assert decision.statement is not None
        why = f"with an explicit deny in a {decision.statement.policy.kind}-based policy"
    elif decision.reason == "boundary":
        why = "because no permissions boundary allows the " + action + " action"
    else:
        why = "because no identity-based policy allows the " + action + " action"
    return f"User: {session.session_arn} is not authorized to perform: {action} on resource: {resource} {why}"


# --- what a request asks for ------------------------------------------------------------------------


def _json_body(response: Any) -> dict[str, Any]:
    body = response.raw_body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body or "{}")


def describe_call(response: Any, resource: str, account: str, region: str) -> Call:
    """The IAM action, resources and condition keys of the request moto is dispatching."""
    service = {"awslambda": "lambda"}.get(response.service_name, response.service_name)
    operation = response._get_action()
    # Lambda's runtime and every SDK endpoint is HTTPS with TLS 1.2+ on AWS; the tier's HTTP endpoint
    # stands in for that, so the keys say what AWS would see.
    context = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
    if service == "s3":
        action = "s3:" + S3_ACTIONS.get(operation, operation)
        if action == "s3:ListBucket":
            prefix = response.querystring.get("prefix")
            if prefix:
                context["s3:prefix"] = prefix[0]
        return Call(service, operation, action, (resource,), context, head=response.method == "HEAD")
    if service == "dynamodb":
        body = _json_body(response)
        tables = body.get("RequestItems", {}).keys() if "RequestItems" in body else [body.get("TableName")]
        arns = tuple(f"arn:aws:dynamodb:{region}:{account}:table/{name}" for name in tables)
        return Call(service, operation, f"dynamodb:{operation}", arns, context)
    if service == "stepfunctions":
        body = _json_body(response)
        arn = body.get("executionArn") or body.get("mapRunArn") or body.get("stateMachineArn")
        return Call(service, operation, f"states:{operation}", (arn,), context)
    if service == "sns":
        topic = response.querystring.get("TopicArn") or [_json_body(response).get("TopicArn")]
        return Call(service, operation, f"sns:{operation}", (topic[0],), context)
    if service == "lambda":
        name = unquote(urlsplit(response.uri).path).split("/functions/", 1)[1].split("/", 1)[0]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        action = "lambda:" + LAMBDA_ACTIONS.get(operation, operation)
        return Call(service, operation, action, (arn,), context)
    # Anything else a role's credentials call is an action the tier cannot place on a resource: refuse
    # it, so that a new call shows up here instead of passing unjudged.
    raise Denied(service, f"the tier does not know the resource of {service}:{operation}", "TierUnjudgedCall")


def object_exists_in(account: str) -> Callable[[str], bool]:
    def exists(resource: str) -> bool:
        from moto.s3.models import s3_backends

        bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
        try:
            return s3_backends[account]["aws"].get_object(bucket, key) is not None
        except Exception:
            return False

    return exists


class DenialResponse(HTTPException):
    """The error response moto's dispatch returns for a denied call: S3's bare ``<Error>``, SNS's
    ``<ErrorResponse>``, or JSON with ``__type`` for the JSON protocols (botocore reads the code there)."""

    def __init__(self, denied: Denied) -> None:
        super().__init__()
        self.code = denied.status
        message = escape(str(denied))
        if denied.service == "s3":
            self.description = (
                "<?xml version='1.0' encoding='UTF-8'?>\n"
                f"<Error><Code>{denied.code}</Code><Message>{message}</Message></Error>"
            )
            self.content_type = "application/xml"
        elif denied.service == "sns":
            self.description = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{denied.code}</Code><Message>{message}</Message></Error></ErrorResponse>"
            )
            self.content_type = "text/xml"
        else:
            self.description = json.dumps({"__type": denied.code, "message": str(denied)})
            self.content_type = "application/x-amz-json-1.0"
        self.error_type = denied.code

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("X-Amzn-ErrorType", self.error_type), ("Content-Type", self.content_type)]

    def get_body(self, *args: Any, **kwargs: Any) -> str:
        return self.description or ""


def install(monkeypatch: pytest.MonkeyPatch, enforcer: Enforcer) -> None:
    """Judge every request signed with a minted key (moto's dispatch, all services)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        key = self.get_access_key()
        session = enforcer.sessions.get(key)
        if session is None:
            if key == NO_ROLE_ACCESS_KEY:
                denied = Denied(self.service_name, "no role credentials", "InvalidClientTokenId", 403)
                raise DenialResponse(denied)
            return  # the tests' own clients, terraform, moto's executor: not the module's principals
        try:
            call = describe_call(self, resource, enforcer.account, enforcer.region)
            enforcer.authorize(session, call, object_exists_in(enforcer.account))
        except Denied as denied:
            if self.method == "HEAD":  # a HEAD response has no body: botocore reads the status as code
                denied.code = str(denied.status)
            raise DenialResponse(denied) from None

    monkeypatch.setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize)


# --- the Lambda threads' credentials ----------------------------------------------------------------

_current = threading.local()


@contextmanager
def credentials_of(session: Session) -> Iterator[None]:
    """Clients created in this thread (and the threads it starts) sign with the session's credentials."""
    previous = getattr(_current, "session", None)
    _current.session = session
    try:
        yield
    finally:
        _current.session = previous


def install_client_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients take the credentials of the invocation whose thread creates them (Lambda gives each
    function's runtime its role's keys in the environment; here every function shares one process). A
    thread the handler starts inherits its creator's session. A client created with no explicit keys
    outside any role signs with ``NO_ROLE_ACCESS_KEY``, which the server refuses."""
    import botocore.session

    create_client = botocore.session.Session.create_client
    start = threading.Thread.start

    def create_client_as_the_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        session = getattr(_current, "session", None)
        if kwargs.get("aws_access_key_id") is not None:
            pass  # explicit keys: the tests' own clients, moto's executor
        elif session is not None:
            kwargs.update(
                aws_access_key_id=session.access_key_id,
                aws_secret_access_key=session.secret_access_key,
                aws_session_token=session.session_token,
            )
        else:
            # Outside every invocation's role, whatever the environment says (tests/conftest.py's autouse
            # fixture sets "testing" keys for each test, which the server would not judge): refused.
            kwargs.update(aws_access_key_id=NO_ROLE_ACCESS_KEY, aws_secret_access_key="none")
        return create_client(self, *args, **kwargs)

    def start_inheriting_the_session(self: threading.Thread) -> None:
        session = getattr(_current, "session", None)
        if session is not None:
            run = self.run

            def run_as_the_role() -> None:
                _current.session = session
                run()

            self.run = run_as_the_role  # type: ignore[method-assign]
        start(self)

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client_as_the_role)
    monkeypatch.setattr(threading.Thread, "start", start_inheriting_the_session)
