"""deploy/template.yaml: valid CloudFormation (cfn-lint), one read policy per regio of the
registry confined to that region's prefix, lifecycle rules and the daily schedule."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import ROOT

TEMPLATE = ROOT / "deploy" / "template.yaml"
LINT = [str(Path(sys.executable).parent / "cfn-lint")]


def slug(region):
    return re.sub(r"[^a-z0-9]+", "-", region.lower()).strip("-")


def load(path):
    from cfnlint.decode import cfn_yaml
    return cfn_yaml.load(str(path))


def test_template_passes_cfn_lint_and_a_broken_one_does_not(tmp_path):
    ok = subprocess.run([*LINT, str(TEMPLATE)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("TransitionInDays: !Ref OlderSnapshotDays", "TransitionInDays: soon"))
    assert subprocess.run([*LINT, str(broken)], capture_output=True, text=True).returncode != 0


def test_one_policy_per_region_confined_to_its_prefix():
    registry = tomllib.loads((ROOT / "config" / "fields.toml").read_text())
    regions = next(f["values"] for f in registry["field"] if f["name"] == "regio")
    template = load(TEMPLATE)
    loop = template["Resources"]["Fn::ForEach::RegionalReaders"]
    variable, slugs, body = loop
    assert sorted(slugs) == sorted(slug(r) for r in regions)
    (name, policy), = body.items()
    assert "&{" + variable + "}" in name
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    text = str(statements)
    assert "parquet/regional/${" + variable + "}/" in text
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert set(statement["Action"]) <= {"s3:GetObject", "s3:ListBucket"}
        resource = str(statement["Resource"])
        if "s3:GetObject" in statement["Action"]:
            assert "parquet/regional/${" + variable + "}/*" in resource, resource
            assert "parquet/*" not in resource and "full-dataset" not in resource
        else:
            assert "${" + variable + "}" in str(statement["Condition"])


def test_lifecycle_and_schedule():
    template = load(TEMPLATE)
    bucket = template["Resources"]["LakeBucket"]["Properties"]
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert "older-snapshots" in rules and "Transitions" in rules["older-snapshots"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    function = template["Resources"]["GenerateFunction"]["Properties"]
    assert function["Runtime"] == "provided.al2023"
    assert function["Events"]["Daily"]["Type"] == "Schedule"
    assert "aws.events" in function["Events"]["Daily"]["Properties"]["Input"]
    # on change: the members table's stream, batched
    stream = function["Events"]["MemberChanges"]
    assert stream["Type"] == "DynamoDB" and stream["Properties"]["MaximumBatchingWindowInSeconds"] > 0
    assert stream["Properties"]["Stream"] == {"Ref": "MembersTableStreamArn"}
    # pruning is manifest-aware; an S3 expiry by age would delete a current snapshot's files
    assert "ExpirationInDays" not in str(rules)
    assert "KeepSnapshots" in str(function["Environment"]["Variables"]["MEMBERLAKE_KEEP_SNAPSHOTS"])
    env = function["Environment"]["Variables"]
    assert "dynamodb://" in str(env["MEMBERLAKE_STORE"]) and "s3://" in str(env["MEMBERLAKE_LAKE"])


def test_deployed_next_to_the_existing_table():
    """The club's members table (and its stream, and its counters table) are parameters; the
    stack creates no table with a fixed name, so nothing can collide with the club's tables."""
    template = load(TEMPLATE)
    parameters = template["Parameters"]
    for name in ("MembersTableName", "MembersTableStreamArn", "CountersTableName"):
        assert name in parameters, name
    assert parameters["CountersTableName"]["Default"] == ""
    tables = {k: v for k, v in template["Resources"].items() if isinstance(v, dict)
              and v.get("Type") == "AWS::DynamoDB::Table"}
    assert list(tables) == ["MemberChangesTable"]
    assert all("TableName" not in t["Properties"] for t in tables.values())
    function = template["Resources"]["GenerateFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1  # one generation at a time
    store = str(function["Environment"]["Variables"]["MEMBERLAKE_STORE"])
    assert "${MembersTableName}" in store and "changes=${MemberChangesTable}" in store
    assert "counters=${CountersTableName}" in store
    policies = str(function["Policies"])
    assert "DynamoDBStreamReadPolicy" in policies and "MembersTableName" in policies
    assert "MembersTable'" not in policies and "!GetAtt MembersTable" not in TEMPLATE.read_text()


def test_stream_arn_parameter_takes_a_stream_not_a_table():
    pattern = load(TEMPLATE)["Parameters"]["MembersTableStreamArn"]["AllowedPattern"]
    stream = "arn:aws:dynamodb:eu-west-1:123456789012:table/Members/stream/2026-01-07T10:15:30.123"
    assert re.fullmatch(pattern, stream)
    assert not re.fullmatch(pattern, "arn:aws:dynamodb:eu-west-1:123456789012:table/Members")
    assert not re.fullmatch(pattern, "Members")
