"""The batch step: every bad field is named, duplicates are dropped and counted, the batches and their
manifest go to S3, and only counts and keys come back, whatever the size of the request."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from image_downloader import batch, problems
from image_downloader.errors import ConfigurationError, InvalidInput
from image_downloader.runs import RunLayout
from image_downloader.settings import MAX_BATCHES_PER_EXECUTION, BatchSettings, batch_settings_from_env

SETTINGS = BatchSettings(
    bucket_name="bucket",
    input_locations=("bucket/inputs/",),
    max_lambda_concur=20,
    max_paths_per_execution=1000,
    default_batch_size=3,
    max_concurrent_batches=8,
)
LAYOUT = RunLayout("runs/", "exec-1")


def request(**overrides: object) -> dict:
    body: dict = {"baseUrl": "https://example.com/flags", "resourcePaths": ["cn/cn.gif"], "lambdaConcur": 2}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def rejection(
    event: object, settings: BatchSettings = SETTINGS, files: dict[str, bytes] | None = None
) -> str:
    with pytest.raises(InvalidInput) as raised:
        batch.parse_request(event, settings, reader(files or {}))
    return str(raised.value)


def reader(files: dict[str, bytes]) -> batch.ReadReference:
    def read(bucket: str, key: str) -> bytes:
        if f"{bucket}/{key}" not in files:
            raise InvalidInput(f"resourcePathsFrom: s3://{bucket}/{key} does not exist")
        return files[f"{bucket}/{key}"]

    return read


def written(event: dict, settings: BatchSettings = SETTINGS, files: dict[str, bytes] | None = None) -> tuple:
    """(the step's output, the objects it wrote by key)."""
    objects: dict[str, Any] = {}
    output = batch.write_batches(
        batch.parse_request(event, settings, reader(files or {})), LAYOUT, objects.__setitem__
    )
    return output, objects


def test_batches_and_their_manifest_go_to_s3_and_the_output_holds_counts_and_keys() -> None:
    paths = [f"{code}/{code}.gif" for code in ("cn", "in", "us", "id", "br", "pk", "ng")]
    output, objects = written(request(resourcePaths=paths))

    manifest = objects["runs/exec-1/manifest.json"]
    assert manifest == [
        {"batchIndex": index, "batchKey": f"runs/exec-1/batches/{index:05d}.json"} for index in range(3)
    ]
    assert [objects[item["batchKey"]]["resourcePaths"] for item in manifest] == [
        paths[0:3],
        paths[3:6],
        paths[6:7],
    ]
    assert all(
        (objects[item["batchKey"]]["baseUrl"], objects[item["batchKey"]]["lambdaConcur"])
        == ("https://example.com/flags/", 2)
        for item in manifest
    )
    assert output == {
        "executionName": "exec-1",
        "total": 7,
        "duplicatesDropped": 0,
        "batchCount": 3,
        "batchSize": 3,
        "lambdaConcur": 2,
        "maxConcurrentBatches": 8,
        "requestsInFlight": 3 * 2,
        "manifestKey": "runs/exec-1/manifest.json",
        "skipped": 0,
    }


def test_duplicate_paths_are_dropped_and_counted_keeping_first_order() -> None:
    paths = ["b/x.gif", "a/x.gif", "b/x.gif", "a/x.gif", "c/x.gif"]
    output, objects = written(request(resourcePaths=paths, batchSize=10))

    assert objects[LAYOUT.batch_key(0)]["resourcePaths"] == ["b/x.gif", "a/x.gif", "c/x.gif"]
    assert (output["total"], output["duplicatesDropped"]) == (3, 2)


def test_request_batch_size_overrides_the_default() -> None:
    _, objects = written(request(resourcePaths=[f"{i}.gif" for i in range(10)], batchSize=4))
    assert [len(objects[LAYOUT.batch_key(i)]["resourcePaths"]) for i in range(3)] == [4, 4, 2]


def test_a_request_may_lower_the_batches_in_flight_to_be_polite_to_the_origin() -> None:
    output, _ = written(request(resourcePaths=[f"{i}.gif" for i in range(30)], maxConcurrentBatches=2))
    assert (output["maxConcurrentBatches"], output["requestsInFlight"]) == (2, 2 * 2)
    assert "maxConcurrentBatches: 9 is out of range, must be from 1 to 8" in rejection(
        request(maxConcurrentBatches=9)
    )


@pytest.mark.parametrize(
    ("paths", "base_url", "batch_size"),
    [
        # the cases: 10,000 paths of 25 characters; 500 one-character paths with batchSize 1 and a
        # 600-character baseUrl
        ([f"p/{i:023d}" for i in range(10_000)], "https://example.com/", None),
        ([f"{i}" for i in range(500)], "https://example.com/" + "b" * 580 + "/", 1),
    ],
)
def test_the_output_stays_small_whatever_the_request(
    paths: list[str], base_url: str, batch_size: int | None
) -> None:
    settings = BatchSettings(bucket_name="bucket", max_paths_per_execution=1_000_000)
    event = request(resourcePaths=paths, baseUrl=base_url, batchSize=batch_size or ...)

    output, objects = written(event, settings)

    assert len(json.dumps(output)) < 1024
    assert sum(
        len(objects[item["batchKey"]]["resourcePaths"]) for item in objects[LAYOUT.manifest_key]
    ) == len(paths)


# --- resourcePathsFrom ------------------------------------------------------------------------------


def test_paths_may_come_from_a_text_file_in_s3_one_per_line() -> None:
    files = {"bucket/inputs/req.txt": b"# flags\na/x.gif\n\nb/y.gif\r\na/x.gif\n"}
    event = request(resourcePaths=..., resourcePathsFrom="s3://bucket/inputs/req.txt")

    output, objects = written(event, files=files)

    assert objects[LAYOUT.batch_key(0)]["resourcePaths"] == ["a/x.gif", "b/y.gif"]
    assert (output["total"], output["duplicatesDropped"]) == (2, 1)


def test_paths_may_come_from_a_json_array_in_s3() -> None:
    files = {"bucket/inputs/req.json": json.dumps(["a/x.gif", "b/y.gif"]).encode()}
    event = request(resourcePaths=..., resourcePathsFrom="s3://bucket/inputs/req.json")

    _, objects = written(event, files=files)

    assert objects[LAYOUT.batch_key(0)]["resourcePaths"] == ["a/x.gif", "b/y.gif"]


@pytest.mark.parametrize(
    ("reference", "content", "expected"),
    [
        (
            "s3://bucket/inputs/req.txt",
            b"ok.gif\n\nfine.gif\n../etc/passwd\n",
            "resourcePathsFrom s3://bucket/inputs/req.txt line 4: must not contain '..'",
        ),
        (
            "s3://bucket/inputs/req.json",
            b'["ok.gif", 7]',
            "resourcePathsFrom s3://bucket/inputs/req.json item 1: must be a string, got the number 7",
        ),
        (
            "s3://bucket/inputs/req.json",
            b'["ok.gif",\n "b.gif"',
            "resourcePathsFrom: s3://bucket/inputs/req.json line 2 column 9: not valid JSON",
        ),
        ("s3://bucket/inputs/req.txt", b"\xff\xfe", "is not UTF-8 text"),
        (
            "s3://bucket/inputs/gone.txt",
            None,
            "resourcePathsFrom: s3://bucket/inputs/gone.txt does not exist",
        ),
        ("s3://bucket/secrets/req.txt", b"a.gif", "is outside the locations this deployment reads"),
        ("s3://other/inputs/req.txt", b"a.gif", "is outside the locations this deployment reads"),
        ("https://example.com/req.txt", b"a.gif", "resourcePathsFrom: must be an s3://bucket/key URL"),
        ("s3://bucket/inputs/empty.txt", b"\n# nothing\n", "resourcePaths: must not be empty"),
    ],
)
def test_a_bad_reference_names_the_object_and_the_line(
    reference: str, content: bytes | None, expected: str
) -> None:
    files = {reference.removeprefix("s3://"): content} if content is not None else {}
    assert expected in rejection(request(resourcePaths=..., resourcePathsFrom=reference), files=files)


def test_paths_inline_and_by_reference_together_are_refused() -> None:
    message = rejection(request(resourcePathsFrom="s3://bucket/inputs/req.txt"))
    assert "resourcePaths and resourcePathsFrom: give one of them, not both" in message


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (request(baseUrl=...), "baseUrl: missing"),
        (request(baseUrl=42), "baseUrl: must be a non-empty string, got the number 42"),
        (request(baseUrl="ftp://example.com/"), "baseUrl: must start with http:// or https://"),
        (request(baseUrl="https:///nohost"), "baseUrl: has no host"),
        (request(baseUrl="https://user:pw@example.com/"), "baseUrl: must not contain credentials"),
        (request(baseUrl="https://example.com/?a=1"), "baseUrl: must not contain a query or fragment"),
        (request(baseUrl="http://h/ok#"), "baseUrl: must not contain a query or fragment"),
        (request(baseUrl="http://h/ok?"), "baseUrl: must not contain a query or fragment"),
        (request(baseUrl="http://[::1/"), "baseUrl: is not a valid URL"),
        (request(baseUrl="http://:@h/"), "baseUrl: must not contain credentials"),
        (request(baseUrl="http://h:99999/"), "baseUrl: port must be a number from 1 to 65535"),
        (request(baseUrl="http://h:abc/"), "baseUrl: port must be a number from 1 to 65535"),
        (request(baseUrl="http://h:0/"), "baseUrl: port must be from 1 to 65535"),
        (request(baseUrl="http://h/ok\r\nX-Injected: 1/"), "baseUrl: must not contain whitespace or control"),
        (request(baseUrl="http://h/o\x00k/"), "baseUrl: must not contain whitespace or control"),
        (request(baseUrl=" http://h/ok/"), "baseUrl: must not contain whitespace or control"),
        (request(baseUrl="http://h/a b/"), "baseUrl: must not contain whitespace or control"),
        (request(baseUrl="http://h//ok/"), "baseUrl: must not contain an empty segment"),
        (request(baseUrl="http://h/a/../b/"), "baseUrl: must not contain '..'"),
        (request(baseUrl="http://h/%zz/"), "baseUrl: '%' must start a percent-encoding"),
        (request(baseUrl="http://exa_mple..com/"), "baseUrl: host 'exa_mple..com' is not a valid host name"),
        (
            request(baseUrl="https://" + "a" * 1100 + ".com/"),
            "baseUrl: is 1113 characters long, at most 1024",
        ),
        (request(resourcePaths=["ok.gif?"]), "resourcePaths[0]: must not end with an empty query ('?')"),
        (request(resourcePaths=["ok//x.gif"]), "resourcePaths[0]: must not contain an empty segment"),
        (request(resourcePaths=["ok/"]), "resourcePaths[0]: must not contain an empty segment"),
        (request(resourcePaths=["a\u200bb.gif"]), "resourcePaths[0]: must not contain whitespace or control"),
        (request(resourcePaths=["ok\r\n.gif"]), "resourcePaths[0]: must not contain whitespace or control"),
        (request(resourcePaths=["./."]), "resourcePaths[0]: must name a resource"),
        (request(resourcePaths=...), "resourcePaths: missing"),
        (request(resourcePaths="cn/cn.gif"), "resourcePaths: must be a list of strings, got a string"),
        (request(resourcePaths=[]), "resourcePaths: must not be empty"),
        (request(resourcePaths=["ok.gif", 7]), "resourcePaths[1]: must be a string, got the number 7"),
        (request(resourcePaths=[""]), "resourcePaths[0]: must not be empty"),
        (request(resourcePaths=["a/../../etc/passwd"]), "resourcePaths[0]: must not contain '..'"),
        (request(resourcePaths=["a/%2e%2e/b.gif"]), "resourcePaths[0]: must not contain '..'"),
        (request(resourcePaths=["/abs.gif"]), "resourcePaths[0]: must be relative to baseUrl"),
        (
            request(resourcePaths=["https://evil.test/x.gif"]),
            "resourcePaths[0]: must be a path relative to baseUrl",
        ),
        (
            request(resourcePaths=["//evil.test/x.gif"]),
            "resourcePaths[0]: must be a path relative to baseUrl",
        ),
        (request(resourcePaths=["a b.gif"]), "resourcePaths[0]: must not contain whitespace"),
        (request(resourcePaths=["a#b.gif"]), "resourcePaths[0]: must not contain '#'"),
        (request(lambdaConcur=...), "lambdaConcur: missing, give an integer from 1 to 20"),
        (request(lambdaConcur=0), "lambdaConcur: 0 is out of range, must be from 1 to 20"),
        (request(lambdaConcur=21), "lambdaConcur: 21 is out of range, must be from 1 to 20"),
        (request(lambdaConcur="5"), "lambdaConcur: must be an integer from 1 to 20, got a string"),
        (request(lambdaConcur=True), "lambdaConcur: must be an integer from 1 to 20, got a boolean"),
        (request(lambdaConcur=2.5), "lambdaConcur: must be an integer from 1 to 20, got the number 2.5"),
        (request(batchSize=0), "batchSize: 0 is out of range"),
        (request(lambdaconcur=3), "lambdaconcur: unknown field (expected one of baseUrl"),
        ([], "the request must be a JSON object, got a list"),
    ],
)
def test_bad_input_names_the_field_and_the_problem(event: object, expected: str) -> None:
    assert expected in rejection(event)


def test_too_many_paths_states_the_limit() -> None:
    message = rejection(request(resourcePaths=[f"{i}.gif" for i in range(1001)]))
    assert "resourcePaths: 1001 paths but one execution accepts at most 1000" in message


def test_too_many_batches_says_which_batch_size_would_fit() -> None:
    settings = BatchSettings(max_paths_per_execution=100_000, default_batch_size=1)
    paths = [f"{i}.gif" for i in range(MAX_BATCHES_PER_EXECUTION * 2)]
    message = rejection(request(resourcePaths=paths), settings)
    assert f"at most {MAX_BATCHES_PER_EXECUTION} batches, so use batchSize >= 2" in message


def test_every_problem_is_reported_at_once() -> None:
    message = rejection({"baseUrl": "nope", "resourcePaths": ["../x"], "lambdaConcur": 99})
    assert "baseUrl:" in message
    assert "resourcePaths[0]:" in message
    assert "lambdaConcur:" in message


def test_a_long_list_of_problems_is_cut_with_a_count() -> None:
    message = rejection(request(resourcePaths=[f"../{i}" for i in range(15)]))
    assert message.count("resourcePaths[") == batch.MAX_LISTED_ERRORS
    assert message.endswith("and 5 more problem(s)")


def test_the_cause_carries_the_problems_as_data_within_step_functions_limit() -> None:
    """Ten problems of the longest text allowed, twice (message and list), inside the Lambda error's JSON:
    under the 32,768 characters of a Step Functions cause."""
    long_path = "../" + '\u00e9"' * 5000
    with pytest.raises(InvalidInput) as raised:
        batch.parse_request(request(resourcePaths=[long_path] * 12, **{"x" * 5000: 1}), SETTINGS, reader({}))
    document = json.loads(problems.cause_document(raised.value))
    assert len(document["problems"]) == batch.MAX_LISTED_ERRORS
    assert document["more"] == 3
    assert document["problems"][0]["field"] == "x" * 199 + "…"
    assert document["problems"][1]["field"] == "resourcePaths[0]"
    assert document["message"].endswith("; and 3 more problem(s)")
    lambda_error = json.dumps({"errorMessage": problems.cause_document(raised.value), "errorType": "x"})
    assert len(lambda_error) <= 32_768


def test_a_bad_rerun_field_is_named_with_the_others() -> None:
    aws = batch.AwsReruns(SETTINGS, None)
    with pytest.raises(InvalidInput) as raised:
        batch.parse_rerun(request(skipExisting="yes", lambdaConcur=0), SETTINGS, reader({}), aws)
    assert [problem.field for problem in raised.value.problems] == ["skipExisting", "lambdaConcur"]


@mock_aws
def test_handler_reads_its_settings_from_the_environment_and_writes_to_the_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="images")
    s3.put_object(Bucket="images", Key="inputs/req.txt", Body=b"a.gif\nb.gif\n")
    for name, value in {
        "BUCKET_NAME": "images",
        "INPUT_LOCATIONS": "images/inputs/",
        "MAX_LAMBDA_CONCUR": "3",
        "DEFAULT_BATCH_SIZE": "1",
    }.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(InvalidInput, match="lambdaConcur: 4 is out of range, must be from 1 to 3"):
        batch.handler({"request": request(lambdaConcur=4), "executionName": "exec-1"}, None)
    by_reference = request(resourcePaths=..., resourcePathsFrom="s3://images/inputs/req.txt")
    output = batch.handler({"request": by_reference, "executionName": "exec-1"}, None)

    assert output["batchCount"] == 2
    manifest = json.loads(s3.get_object(Bucket="images", Key=output["manifestKey"])["Body"].read())
    second = json.loads(s3.get_object(Bucket="images", Key=manifest[1]["batchKey"])["Body"].read())
    assert second["resourcePaths"] == ["b.gif"]
    with pytest.raises(InvalidInput, match=r"resourcePathsFrom: s3://images/inputs/gone\.txt does not exist"):
        gone = request(resourcePaths=..., resourcePathsFrom="s3://images/inputs/gone.txt")
        batch.handler({"request": gone, "executionName": "exec-1"}, None)


def test_settings_refuse_malformed_environment_values() -> None:
    with pytest.raises(ConfigurationError, match="MAX_LAMBDA_CONCUR must be an integer"):
        batch_settings_from_env({"BUCKET_NAME": "images", "MAX_LAMBDA_CONCUR": "many"})


@pytest.mark.parametrize(
    "base_url",
    ["http://[::1/", "http://h:99999/", "http://h/\x00/", "http://h:abc/", "http://[zz]/", "http://h/%"],
)
def test_no_base_url_escapes_as_a_raw_exception(base_url: str) -> None:
    assert rejection(request(baseUrl=base_url)).startswith("baseUrl: ")


def test_the_base_url_is_kept_in_canonical_form() -> None:
    parsed = batch.parse_request(request(baseUrl="HTTPS://Bücher.Example:443/a/./Flags"), SETTINGS)
    assert parsed.base_url == "https://xn--bcher-kva.example/a/Flags/"


def test_spellings_of_one_url_are_one_image_dropped_as_duplicates() -> None:
    paths = ["a~.gif", "a%7e.gif", "a%7E.gif", "./a~.gif", "b/./x.gif", "b/x.gif", "c.gif?v=1", "c.gif?v=%31"]
    parsed = batch.parse_request(request(resourcePaths=paths, batchSize=10), SETTINGS)
    assert parsed.resource_paths == ("a~.gif", "b/x.gif", "c.gif?v=1")
    assert parsed.duplicates_dropped == 5


def test_a_path_whose_s3_key_would_pass_1024_bytes_is_refused_before_any_download() -> None:
    host = "images." + "h" * 50 + ".example"
    ascii_path = "p" * (1024 - len(f"images/https/{host}/flags/") + 1)
    message = rejection(request(baseUrl=f"https://{host}/flags/", resourcePaths=["ok.gif", ascii_path]))
    assert message.startswith("resourcePaths[1]: cannot be stored: its S3 key")
    assert "would be 1025 bytes, S3 allows 1024" in message


def test_the_key_limit_counts_utf8_bytes_of_the_percent_encoded_path() -> None:
    path = "é" * 200  # 200 characters, 400 UTF-8 bytes, 1,200 once percent-encoded as sent
    message = rejection(request(resourcePaths=[path]))
    assert message.startswith("resourcePaths[0]: cannot be stored: its S3 key")


def test_the_key_limit_counts_the_configured_prefix() -> None:
    path = "p" * (1024 - len("images/https/example.com/flags/"))
    assert batch.parse_request(request(resourcePaths=[path]), SETTINGS).resource_paths == (path,)
    longer_prefix = BatchSettings(
        max_lambda_concur=20, max_paths_per_execution=1000, image_key_prefix="pics/v2/x/"
    )
    assert "cannot be stored" in rejection(request(resourcePaths=[path]), longer_prefix)


def test_secrets_in_echoed_values_are_masked() -> None:
    message = rejection(request(baseUrl="ftp://alice:s3cret@h/", resourcePaths=["../x?token=s3cret"]))
    assert "s3cret" not in message
    assert "ftp://***@h/" in message
    assert "token=***" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "holds a number too long"),
    ],
)
def test_a_paths_file_the_json_parser_cannot_read_is_named(body: bytes, expected: str) -> None:
    message = rejection(
        request(resourcePaths=..., resourcePathsFrom="s3://bucket/inputs/p.json"),
        files={"bucket/inputs/p.json": body},
    )
    assert (
        message
        == f"resourcePathsFrom: s3://bucket/inputs/p.json: not JSON the batch step can read ({expected})"
    )
