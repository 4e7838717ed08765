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
    # the deep check before publishing can be switched off (then only the DeepCheck schedule checks)
    assert "VerifyGenerations" in str(function["Environment"]["Variables"]["MEMBERLAKE_VERIFY"])
    assert template["Parameters"]["VerifyGenerations"]["AllowedValues"] == ["deep", "none"]
    assert template["Parameters"]["VerifyGenerations"]["Default"] == "deep"
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


def delta_tables(template):
    """name -> (Glue TableInput, loop variable or None) of every AWS::Glue::Table, with the
    ForEach loops as (variable, values, TableInput)."""
    plain, loops = {}, {}
    for key, value in template["Resources"].items():
        if key.startswith("Fn::ForEach::"):
            variable, values, body = value
            (_, resource), = body.items()
            if resource["Type"] == "AWS::Glue::Table":
                loops[key] = (variable, values, resource["Properties"]["TableInput"])
        elif isinstance(value, dict) and value.get("Type") == "AWS::Glue::Table":
            plain[key] = value["Properties"]["TableInput"]
    return plain, loops


def sub(value):
    """The template string of a !Sub (the value itself for a plain string)."""
    return value["Fn::Sub"] if isinstance(value, dict) else value


def assert_delta(table_input, folder):
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    assert table_input["Parameters"]["table_type"] == "DELTA"
    assert "Columns" not in table_input["StorageDescriptor"]  # Athena takes the schema from the log
    location = sub(table_input["StorageDescriptor"]["Location"])
    assert location == "s3://${LakeBucket}/${LakePrefix}/parquet/" + folder + "/", location


def test_glue_tables_for_every_delta_table():
    """The full dataset, every region of the registry and every view of config/fields.toml is a
    Glue table Athena reads as Delta (table_type DELTA, the table folder as location)."""
    registry = tomllib.loads((ROOT / "config" / "fields.toml").read_text())
    regions = next(f["values"] for f in registry["field"] if f["name"] == "regio")
    template = load(TEMPLATE)
    assert template["Resources"]["LakeDatabase"]["Type"] == "AWS::Glue::Database"
    plain, loops = delta_tables(template)
    assert list(plain) == ["FullDatasetTable"]
    assert_delta(plain["FullDatasetTable"], "full-dataset")
    variable, slugs, regional = loops["Fn::ForEach::RegionalTables"]
    assert sorted(slugs) == sorted(slug(r) for r in regions)
    assert_delta(regional, "regional/${" + variable + "}")
    variable, views, view = loops["Fn::ForEach::ViewTables"]
    assert sorted(views) == sorted(v["name"] for v in registry["view"])
    assert_delta(view, "filtered-views/${" + variable + "}")
    for table in [plain["FullDatasetTable"], regional, view]:
        assert table.get("PartitionKeys") is None


def test_athena_workgroup_enforces_results_and_engine_v3():
    template = load(TEMPLATE)
    resources = template["Resources"]
    config = resources["LakeQueryWorkgroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"  # Delta needs v3
    assert "${AthenaResultsBucket}" in str(config["ResultConfiguration"]["OutputLocation"])
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    results = resources["AthenaResultsBucket"]["Properties"]
    assert results["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert any("ExpirationInDays" in rule for rule in results["LifecycleConfiguration"]["Rules"])


def test_athena_access_is_all_regions_and_regional_policies_do_not_get_it():
    """Athena reads S3 with the caller's credentials: the regional read policies grant no Athena,
    Glue or other prefix, and the one query policy (for board / System roles with Regio_All)
    reads the lake's parquet/ prefix and writes only to the results bucket."""
    template = load(TEMPLATE)
    _, _, body = template["Resources"]["Fn::ForEach::RegionalReaders"]
    (_, regional), = body.items()
    regional_actions = {a for s in regional["Properties"]["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert not any(a.startswith(("athena:", "glue:")) for a in regional_actions)
    policy = template["Resources"]["LakeQueryPolicy"]["Properties"]
    assert "Regio_All" in policy["Description"]
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        actions, resource = statement["Action"], str(statement["Resource"])
        if any(a.startswith("athena:") for a in actions):
            assert "workgroup/${LakeQueryWorkgroup}" in resource and "*" not in resource.split("workgroup/")[1]
        if "s3:PutObject" in actions:
            assert "LakeBucket" not in resource and "AthenaResultsBucket" in resource
        elif "s3:GetObject" in actions:
            assert sub(statement["Resource"]).endswith("${LakeBucket}/${LakePrefix}/parquet/*"), resource
        assert not any(a in ("s3:*", "s3:DeleteObject", "glue:*", "athena:*") for a in actions)
