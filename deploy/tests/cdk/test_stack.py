"""The Fargate stack's design, asserted on the offline synthesis (aws_cdk.assertions).

Each test states one property of the seed's network design or of least privilege that
a later edit could silently break: no NAT, every endpoint, who may reach whom, what each
task role may do, the sidecar, health checks and autoscaling.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from conftest import CERTIFICATE, DEPLOY, synth
from mangaassist_cdk.config import SERVICES, DeploySettings, ServiceSpec, StackNames
from mangaassist_cdk.stack import MangaAssistStack

Resources = dict[str, dict[str, Any]]
OfType = Callable[[str], Resources]

INTERNAL = {"intent": 50051, "retrieval": 50052, "inference": 50053}


def render(value: Any) -> str:
    """Flatten a CloudFormation string expression for matching: Refs become ``<Name>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return str(sep).join(render(p) for p in parts)
        if "Fn::GetAtt" in value:
            return "<{}.{}>".format(*value["Fn::GetAtt"])
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"])
    return json.dumps(value)


def logical_id(resources: Resources, kind: str, prefix: str) -> str:
    ids = [lid for lid, r in resources.items() if r["Type"] == kind and lid.startswith(prefix)]
    assert len(ids) == 1, f"expected one {kind} named {prefix}*, found {ids}"
    return ids[0]


def role_statements(resources: Resources, role_prefix: str) -> list[dict[str, Any]]:
    role = logical_id(resources, "AWS::IAM::Role", role_prefix)
    statements: list[dict[str, Any]] = []
    for r in resources.values():
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]:
            statements.extend(r["Properties"]["PolicyDocument"]["Statement"])
    assert "ManagedPolicyArns" not in resources[role]["Properties"], f"{role} must not carry managed policies"
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def resources_of(statement: dict[str, Any]) -> list[str]:
    value = statement["Resource"]
    return [render(v) for v in (value if isinstance(value, list) else [value])]


def task_containers(resources: Resources, service: str) -> list[dict[str, Any]]:
    task = logical_id(resources, "AWS::ECS::TaskDefinition", f"{service.title()}Task")
    containers: list[dict[str, Any]] = resources[task]["Properties"]["ContainerDefinitions"]
    return containers


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


# ---- network ---------------------------------------------------------------------------


def test_no_nat_gateway_and_tasks_live_in_isolated_subnets(template: Template, of_type: OfType) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    # No private route leads to the internet: the only 0.0.0.0/0 routes go to the IGW (public subnets).
    for route in of_type("AWS::EC2::Route").values():
        props = route["Properties"]
        if props.get("DestinationCidrBlock") == "0.0.0.0/0":
            assert "GatewayId" in props and "NatGatewayId" not in props
    for service in of_type("AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        for subnet in network["Subnets"]:
            assert "private" in subnet["Ref"].lower(), subnet


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [
        ("bedrock-runtime", "Interface"),
        ("logs", "Interface"),
        ("monitoring", "Interface"),
        ("xray", "Interface"),
        ("secretsmanager", "Interface"),
        ("ecr.api", "Interface"),
        ("ecr.dkr", "Interface"),
        ("dynamodb", "Gateway"),
        ("s3", "Gateway"),
    ],
)
def test_every_aws_call_has_a_vpc_endpoint(of_type: OfType, suffix: str, kind: str) -> None:
    found = [
        r["Properties"]
        for r in of_type("AWS::EC2::VPCEndpoint").values()
        if render(r["Properties"]["ServiceName"]) == f"com.amazonaws.<AWS::Region>.{suffix}"
    ]
    assert len(found) == 1, f"endpoint for {suffix}: {found}"
    props = found[0]
    assert props["VpcEndpointType"] == kind
    if kind == "Interface":
        assert props["PrivateDnsEnabled"] is True
        assert all("private" in s["Ref"].lower() for s in props["SubnetIds"])


def test_opensearch_serverless_is_reached_through_its_vpc_endpoint_only(
    resources: Resources,
    of_type: OfType,
) -> None:
    endpoints = of_type("AWS::OpenSearchServerless::VpcEndpoint")
    assert len(endpoints) == 1
    endpoint_id = next(iter(endpoints))
    network = [
        r for r in of_type("AWS::OpenSearchServerless::SecurityPolicy").values() if r["Properties"]["Type"] == "network"
    ]
    assert len(network) == 1
    policy = json.dumps(network[0]["Properties"]["Policy"])
    assert '\\"AllowFromPublic\\":false' in policy
    assert endpoint_id in policy


def test_only_the_orchestrator_reaches_the_internal_services(resources: Resources, of_type: OfType) -> None:
    sg = {
        name: logical_id(resources, "AWS::EC2::SecurityGroup", f"{name.title()}Sg")
        for name in ("orchestrator", "intent", "retrieval", "inference")
    }
    alb_sg = logical_id(resources, "AWS::EC2::SecurityGroup", "AlbSg")
    ingress: dict[str, list[dict[str, Any]]] = {lid: [] for lid in sg.values()}
    for rule in of_type("AWS::EC2::SecurityGroupIngress").values():
        target = rule["Properties"]["GroupId"]["Fn::GetAtt"][0]
        if target in ingress:
            ingress[target].append(rule["Properties"])
    for name, port in INTERNAL.items():
        rules = ingress[sg[name]] + resources[sg[name]]["Properties"].get("SecurityGroupIngress", [])
        assert rules, f"{name} has no ingress at all"
        for rule in rules:
            assert "CidrIp" not in rule and "CidrIpv6" not in rule, f"{name} open to a CIDR: {rule}"
            assert rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] == sg["orchestrator"], rule
            assert rule["FromPort"] == rule["ToPort"] == port
    orchestrator_rules = ingress[sg["orchestrator"]] + resources[sg["orchestrator"]]["Properties"].get(
        "SecurityGroupIngress", []
    )
    assert [r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in orchestrator_rules] == [alb_sg]
    cache_sg = logical_id(resources, "AWS::EC2::SecurityGroup", "CacheSg")
    cache_rules = [
        r["Properties"]
        for r in of_type("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == cache_sg
    ]
    assert [r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in cache_rules] == [sg["orchestrator"]]


# ---- the mesh --------------------------------------------------------------------------


def test_one_service_and_task_definition_per_mesh_service(template: Template, of_type: OfType) -> None:
    # One per mesh service, plus the bottleneck detector's (one task, no port).
    template.resource_count_is("AWS::ECS::Service", len(SERVICES) + 1)
    # ...plus the one-off OpenSearch ingest task (no service runs it).
    template.resource_count_is("AWS::ECS::TaskDefinition", len(SERVICES) + 2)
    mesh_services = {lid: s for lid, s in of_type("AWS::ECS::Service").items() if not lid.startswith("Detector")}
    task_defs = {s["Properties"]["TaskDefinition"]["Ref"] for s in mesh_services.values()}
    assert len(task_defs) == len(SERVICES)
    for service in mesh_services.values():
        assert service["Properties"]["LaunchType"] == "FARGATE"
        assert service["Properties"]["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
        assert service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
            "Enable": True,
            "Rollback": True,
        }
    template.all_resources_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                }
            ),
        },
    )


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_each_task_has_its_image_health_check_and_an_adot_sidecar(
    resources: Resources,
    spec: ServiceSpec,
) -> None:
    containers = {c["Name"]: c for c in task_containers(resources, spec.name)}
    assert set(containers) == {spec.name, "adot-collector"}
    app, sidecar = containers[spec.name], containers["adot-collector"]
    assert app["Essential"] is True
    assert app["PortMappings"][0]["ContainerPort"] == spec.port
    probe = app["HealthCheck"]["Command"]
    assert probe[:3] == ["CMD", "python", "/app/healthprobe.py"]
    if spec.grpc:
        # The server's overall status: liveness. The service's own status follows its
        # downstream (inference: the model endpoint); checking it would replace healthy tasks.
        assert probe[3:] == ["grpc", f"127.0.0.1:{spec.port}"]
    else:
        assert probe[3:] == ["http", f"http://127.0.0.1:{spec.port}/livez"]
    assert app["StopTimeout"] >= 15  # the service drains for 10 s after SIGTERM
    env = env_of(app)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
    assert env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "delta"
    assert env["OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"] == "base2_exponential_bucket_histogram"
    assert env[f"MANGAASSIST_{spec.name.upper()}_HOST"] == "0.0.0.0"
    # The standard variables every service honours: its name in traces and metrics, its Region.
    assert env["OTEL_SERVICE_NAME"] == spec.name
    assert render(env["AWS_REGION"]) == "<AWS::Region>"
    assert {"Condition": "START", "ContainerName": "adot-collector"} in app["DependsOn"]
    # The sidecar: ADOT from the ECR pull-through cache (no NAT), our config, its own health check.
    assert "/mangaassist-ecr-public/aws-observability/aws-otel-collector:" in render(sidecar["Image"])
    assert sidecar["Essential"] is False
    assert sidecar["HealthCheck"]["Command"] == ["CMD", "/healthcheck"]
    assert "AOT_CONFIG_CONTENT" in env_of(sidecar)


def test_sidecar_gets_the_collector_config_file(resources: Resources) -> None:
    source = (DEPLOY / "otel" / "collector.yaml").read_text()
    expected = (
        "\n".join(line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")) + "\n"
    )
    expected = expected.replace("${env:AWS_REGION}", "<AWS::Region>")
    # This stack's own metrics namespace and log group (two stacks never mix their metrics).
    expected = expected.replace("${env:MANGAASSIST_METRICS_NAMESPACE:-MangaAssist}", "MangaAssist")
    expected = expected.replace("${env:MANGAASSIST_METRICS_LOG_GROUP:-/mangaassist/metrics}", "/mangaassist/metrics")
    assert "${env:MANGAASSIST" not in expected
    for spec in SERVICES:
        sidecar = next(c for c in task_containers(resources, spec.name) if c["Name"] == "adot-collector")
        assert render(env_of(sidecar)["AOT_CONFIG_CONTENT"]) == expected


def test_service_connect_names_the_grpc_services_and_the_orchestrator_uses_them(
    resources: Resources,
) -> None:
    for name, port in INTERNAL.items():
        service = resources[logical_id(resources, "AWS::ECS::Service", f"{name.title()}Service")]
        connect = service["Properties"]["ServiceConnectConfiguration"]
        assert connect["Enabled"] is True
        assert connect["Services"] == [
            {"ClientAliases": [{"DnsName": name, "Port": port}], "DiscoveryName": name, "PortName": name}
        ]
        app = next(c for c in task_containers(resources, name) if c["Name"] == name)
        assert app["PortMappings"][0]["AppProtocol"] == "grpc"
    orchestrator = resources[logical_id(resources, "AWS::ECS::Service", "OrchestratorService")]
    connect = orchestrator["Properties"]["ServiceConnectConfiguration"]
    assert connect["Enabled"] is True and "Services" not in connect  # client only
    env = env_of(next(c for c in task_containers(resources, "orchestrator") if c["Name"] == "orchestrator"))
    for name, port in INTERNAL.items():
        assert env[f"MANGAASSIST_ORCHESTRATOR_{name.upper()}_TARGET"] == f"{name}:{port}"


def test_orchestrator_gets_its_tables_region_and_sign_in_key(resources: Resources) -> None:
    app = next(c for c in task_containers(resources, "orchestrator") if c["Name"] == "orchestrator")
    env = env_of(app)
    assert env["MANGAASSIST_ORCHESTRATOR_SESSION_BACKEND"] == "dynamodb"
    assert render(env["MANGAASSIST_ORCHESTRATOR_AWS_REGION"]) == "<AWS::Region>"
    sessions = logical_id(resources, "AWS::DynamoDB::Table", "Sessions")
    assert render(env["MANGAASSIST_ORCHESTRATOR_SESSIONS_TABLE"]) == f"<{sessions}>"
    assert "MANGAASSIST_ORCHESTRATOR_CREATE_TABLES" not in env  # the stack owns the tables
    # The key comes from Secrets Manager at task start, never as plain text in the template.
    secret = logical_id(resources, "AWS::SecretsManager::Secret", "AuthSecret")
    assert "MANGAASSIST_ORCHESTRATOR_AUTH_SECRET" not in env
    assert app["Secrets"] == [{"Name": "MANGAASSIST_ORCHESTRATOR_AUTH_SECRET", "ValueFrom": {"Ref": secret}}]
    for spec in SERVICES:
        if spec.name != "orchestrator":
            own = next(c for c in task_containers(resources, spec.name) if c["Name"] == spec.name)
            assert "Secrets" not in own


def test_autoscaling_on_cpu_for_all_request_count_for_grpc_and_websocket_work_for_the_orchestrator(
    resources: Resources,
    of_type: OfType,
) -> None:
    targets = of_type("AWS::ApplicationAutoScaling::ScalableTarget")
    assert len(targets) == len(SERVICES)
    by_target: dict[str, list[dict[str, Any]]] = {lid: [] for lid in targets}
    for policy in of_type("AWS::ApplicationAutoScaling::ScalingPolicy").values():
        by_target[policy["Properties"]["ScalingTargetId"]["Ref"]].append(policy["Properties"])
    for spec in SERVICES:
        target = logical_id(resources, "AWS::ApplicationAutoScaling::ScalableTarget", f"{spec.name.title()}Service")
        props = targets[target]["Properties"]
        assert (props["MinCapacity"], props["MaxCapacity"]) == (spec.min_tasks, spec.max_tasks)
        configs = [p["TargetTrackingScalingPolicyConfiguration"] for p in by_target[target]]
        predefined = {c.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType") for c in configs}
        assert "ECSServiceAverageCPUUtilization" in predefined
        if spec.grpc:
            custom = [c["CustomizedMetricSpecification"] for c in configs if "CustomizedMetricSpecification" in c]
            assert [c["MetricName"] for c in custom] == ["RequestCountPerTarget"]
            assert {"Name": "TargetDiscoveryName", "Value": spec.name} in custom[0]["Dimensions"]
        else:
            # WebSocket work, not ALB requests (one upgrade request carries a whole conversation):
            # the orchestrator's own gauges, averaged per task, from this stack's EMF namespace.
            assert "ALBRequestCountPerTarget" not in predefined
            custom = {
                c["CustomizedMetricSpecification"]["MetricName"]: c
                for c in configs
                if "CustomizedMetricSpecification" in c
            }
            assert set(custom) == {"mangaassist.websocket.inflight", "mangaassist.websocket.connections"}
            for config in custom.values():
                metric = config["CustomizedMetricSpecification"]
                assert metric["Namespace"] == "MangaAssist" and metric["Statistic"] == "Average"
                assert metric["Dimensions"] == [{"Name": "service.name", "Value": "orchestrator"}]


def test_public_entry_is_an_alb_that_holds_websockets(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Scheme": "internet-facing",
            "LoadBalancerAttributes": Match.array_with([{"Key": "idle_timeout.timeout_seconds", "Value": "300"}]),
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": 8080,
            "TargetType": "ip",
            "Matcher": {"HttpCode": "200"},
        },
    )
    template.resource_count_is("AWS::ApiGatewayV2::Api", 0)


def test_load_balancer_and_ecs_check_liveness_not_readiness(resources: Resources, of_type: OfType) -> None:
    """A downstream blip makes /healthz 503; only /livez may decide whether a task is replaced."""
    (group,) = of_type("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/livez"
    assert group["Properties"]["Matcher"] == {"HttpCode": "200"}
    app = next(c for c in task_containers(resources, "orchestrator") if c["Name"] == "orchestrator")
    probe = app["HealthCheck"]["Command"]
    assert probe[3:] == ["http", "http://127.0.0.1:8080/livez"]  # 200 only; no readiness path
    assert not any("/healthz" in json.dumps(r) for r in resources.values()), "no health check reads readiness"


# ---- the edge --------------------------------------------------------------------------


def test_https_only_no_plain_http_listener_and_tls_only_ingress(template: Template, of_type: OfType) -> None:
    listeners = [r["Properties"] for r in of_type("AWS::ElasticLoadBalancingV2::Listener").values()]
    assert [(x["Port"], x["Protocol"]) for x in listeners] == [(443, "HTTPS")]
    assert listeners[0]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert listeners[0]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    alb_sg = next(r for lid, r in of_type("AWS::EC2::SecurityGroup").items() if lid.startswith("AlbSg"))
    assert [(r["FromPort"], r["ToPort"]) for r in alb_sg["Properties"]["SecurityGroupIngress"]] == [(443, 443)]
    outputs = template.find_outputs("WebSocketUrl")
    assert render(outputs["WebSocketUrl"]["Value"]).startswith("wss://")


def test_admin_routes_are_never_routed_from_the_internet(of_type: OfType) -> None:
    rules = [r["Properties"] for r in of_type("AWS::ElasticLoadBalancingV2::ListenerRule").values()]
    admin = [
        r for r in rules if any(c.get("Field") == "path-pattern" or "PathPatternConfig" in c for c in r["Conditions"])
    ]
    assert len(admin) == 1 and admin[0]["Priority"] == 1  # before anything that forwards
    (condition,) = admin[0]["Conditions"]
    assert sorted(condition["PathPatternConfig"]["Values"]) == ["/admin", "/admin/*"]
    (action,) = admin[0]["Actions"]
    assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "404"
    # The WAF blocks them too, whatever their case or percent-encoding.
    (acl,) = of_type("AWS::WAFv2::WebACL").values()
    (admin_rule,) = [r for r in acl["Properties"]["Rules"] if r["Name"] == "AdminRoutes"]
    match = admin_rule["Statement"]["ByteMatchStatement"]
    assert (match["SearchString"], match["PositionalConstraint"]) == ("/admin", "STARTS_WITH")
    assert {t["Type"] for t in match["TextTransformations"]} == {"URL_DECODE", "LOWERCASE"}
    assert admin_rule["Action"] == {"Block": {}}


def test_waf_on_the_alb_with_a_rate_limit_per_ip_and_aws_lists(resources: Resources, of_type: OfType) -> None:
    ((acl_id, acl),) = of_type("AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in props["Rules"]}
    rate = rules["RatePerIp"]["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["AggregateKeyType"]) == (DeploySettings().waf_rate_limit, "IP")
    assert rules["RatePerIp"]["Action"] == {"Block": {}}
    assert {"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    assert "NotOnTheAllowList" not in rules  # no allow-list by default
    (association,) = of_type("AWS::WAFv2::WebACLAssociation").values()
    alb = logical_id(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Alb")
    assert association["Properties"]["ResourceArn"] == {"Ref": alb}
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_an_ip_allow_list_blocks_everyone_else(tmp_path: Path) -> None:
    _, path = synth(tmp_path, {"allowedCidrs": "203.0.113.0/24,2001:db8::/32", "wafRateLimit": 300})
    resources = json.loads(path.read_text())["Resources"]
    sets = {
        r["Properties"]["IPAddressVersion"]: r["Properties"]["Addresses"]
        for r in resources.values()
        if r["Type"] == "AWS::WAFv2::IPSet"
    }
    assert sets == {"IPV4": ["203.0.113.0/24"], "IPV6": ["2001:db8::/32"]}
    (acl,) = [r for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACL"]
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    assert rules["NotOnTheAllowList"]["Priority"] == 0 and rules["NotOnTheAllowList"]["Action"] == {"Block": {}}
    listed = rules["NotOnTheAllowList"]["Statement"]["NotStatement"]["Statement"]["OrStatement"]["Statements"]
    assert len(listed) == 2
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 300


# ---- least privilege -------------------------------------------------------------------


def bedrock_statements(resources: Resources, role: str = "InferenceTaskRole") -> list[dict[str, Any]]:
    return [s for s in role_statements(resources, role) if any(a.startswith("bedrock:") for a in actions(s))]


def test_only_inference_invokes_bedrock(resources: Resources) -> None:
    for spec in SERVICES:
        if spec.name != "inference":
            assert not bedrock_statements(resources, f"{spec.name.title()}TaskRole"), spec.name
    guard = [s for s in bedrock_statements(resources) if actions(s) == ["bedrock:ApplyGuardrail"]]
    assert resources_of(guard[0]) == ["<Guardrail.GuardrailArn>"]


def invoke_grants(resources: Resources) -> dict[str, list[str]]:
    """Sid → resources of the inference role's invoke statements (which carry exactly the two actions)."""
    grants: dict[str, list[str]] = {}
    for statement in bedrock_statements(resources):
        if "bedrock:InvokeModel" in actions(statement):
            assert sorted(actions(statement)) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
            grants[statement["Sid"]] = sorted(resources_of(statement))
    return grants


def test_default_models_are_current_claude_through_the_japan_profiles(resources: Resources) -> None:
    settings = DeploySettings()
    assert settings.haiku_model_id.startswith("jp.anthropic.claude-haiku-4-5")
    assert settings.sonnet_model_id.startswith("jp.anthropic.claude-sonnet-4")
    cdk_json = json.loads((DEPLOY / "cdk" / "cdk.json").read_text())["context"]
    assert (cdk_json["haikuModelId"], cdk_json["sonnetModelId"]) == (settings.haiku_model_id, settings.sonnet_model_id)
    env = env_of(next(c for c in task_containers(resources, "inference") if c["Name"] == "inference"))
    assert env["MANGAASSIST_INFERENCE_HAIKU_MODEL_ID"] == settings.haiku_model_id
    assert env["MANGAASSIST_INFERENCE_SONNET_MODEL_ID"] == settings.sonnet_model_id
    assert "MANGAASSIST_INFERENCE_BACKEND" not in env  # Bedrock is the only backend


def test_profiles_are_invoked_with_their_arn_and_the_models_in_every_destination_region(
    resources: Resources,
) -> None:
    grants = invoke_grants(resources)
    profile = "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/"
    assert grants["InvokeThroughTheProfiles"] == sorted(
        [profile + "jp.anthropic.claude-haiku-4-5-20251001-v1:0", profile + "jp.anthropic.claude-sonnet-4-6"]
    )
    assert grants["InvokeTheModelsWhereTheyRun"] == sorted(
        f"arn:<AWS::Partition>:bedrock:{region}::foundation-model/{model}"
        for region in ("ap-northeast-1", "ap-northeast-3")
        for model in ("anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-sonnet-4-6")
    )
    assert set(grants) == {"InvokeThroughTheProfiles", "InvokeTheModelsWhereTheyRun"}


def test_a_global_profile_allows_the_regionless_model_arn_only_for_unspecified_regions(tmp_path: Path) -> None:
    stack, _ = synth(tmp_path, {"sonnetModelId": "global.anthropic.claude-sonnet-4-6"})
    resources = Template.from_stack(stack).to_json()["Resources"]
    grants = invoke_grants(resources)
    assert (
        "arn:<AWS::Partition>:bedrock:::foundation-model/anthropic.claude-sonnet-4-6"
        in grants["InvokeGlobalProfileModels"]
    )
    statement = next(s for s in bedrock_statements(resources) if s.get("Sid") == "InvokeGlobalProfileModels")
    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "unspecified"}}
    # The source Region's copy of the model too, and the Haiku profile keeps its Japan destinations.
    assert (
        "arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/anthropic.claude-sonnet-4-6"
        in grants["InvokeTheModelsWhereTheyRun"]
    )


def test_other_geographies_need_their_destination_regions(tmp_path: Path) -> None:
    apac = {"haikuModelId": "apac.anthropic.claude-3-haiku-20240307-v1:0"}
    with pytest.raises(ValueError, match="modelRegions"):
        DeploySettings.from_context(apac.get)
    stack, _ = synth(tmp_path, {**apac, "modelRegions": "ap-northeast-1,ap-southeast-1"})
    grants = invoke_grants(Template.from_stack(stack).to_json()["Resources"])
    assert (
        "arn:<AWS::Partition>:bedrock:ap-southeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        in grants["InvokeTheModelsWhereTheyRun"]
    )


def test_an_in_region_model_id_is_granted_as_a_foundation_model(tmp_path: Path) -> None:
    stack, _ = synth(tmp_path, {"haikuModelId": "anthropic.claude-3-haiku-20240307-v1:0"})
    grants = invoke_grants(Template.from_stack(stack).to_json()["Resources"])
    assert (
        "arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        in grants["InvokeTheModelsWhereTheyRun"]
    )
    assert not any("claude-3-haiku" in r for r in grants["InvokeThroughTheProfiles"])


def test_the_removed_inference_backend_option_fails_synth() -> None:
    with pytest.raises(ValueError, match="inferenceBackend is gone"):
        DeploySettings.from_context({"inferenceBackend": "template-emulator"}.get)
    with_cert = {"inferenceBackend": "bedrock", "certificateArn": CERTIFICATE}
    assert DeploySettings.from_context(with_cert.get) == DeploySettings(certificate_arn=CERTIFICATE)


def test_only_the_orchestrator_touches_dynamodb_and_only_the_two_tables(resources: Resources) -> None:
    sessions = logical_id(resources, "AWS::DynamoDB::Table", "Sessions")
    orders = logical_id(resources, "AWS::DynamoDB::Table", "Orders")
    for spec in SERVICES:
        dynamo = [
            s
            for s in role_statements(resources, f"{spec.name.title()}TaskRole")
            if any(a.startswith("dynamodb:") for a in actions(s))
        ]
        if spec.name != "orchestrator":
            assert not dynamo, f"{spec.name} may call DynamoDB"
            continue
        touched = {r for s in dynamo for r in resources_of(s)}
        assert touched == {f"<{sessions}.Arn>", f"<{orders}.Arn>"}
        orders_actions = {a for s in dynamo if resources_of(s) == [f"<{orders}.Arn>"] for a in actions(s)}
        assert orders_actions == {"dynamodb:GetItem"}, "orders are read-only"
        all_actions = {a for s in dynamo for a in actions(s)}
        # What the session store calls, plus the pool's warm-up (DescribeTable on the sessions
        # table: never ListTables, which would need every table in the account).
        assert all_actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DescribeTable"}
        warm = {r for s in dynamo if "dynamodb:DescribeTable" in actions(s) for r in resources_of(s)}
        assert warm == {f"<{sessions}.Arn>"}


def test_only_retrieval_and_its_ingest_task_reach_the_one_collection(resources: Resources, of_type: OfType) -> None:
    collection = logical_id(resources, "AWS::OpenSearchServerless::Collection", "Collection")
    for role in [f"{spec.name.title()}TaskRole" for spec in SERVICES] + ["IngestTaskRole"]:
        statements = [s for s in role_statements(resources, role) if any(a.startswith("aoss:") for a in actions(s))]
        if role not in ("RetrievalTaskRole", "IngestTaskRole"):
            assert not statements, role
            continue
        assert [(actions(s), resources_of(s)) for s in statements] == [(["aoss:APIAccessAll"], [f"<{collection}.Arn>"])]
    # Network: the collection's endpoint takes HTTPS from retrieval and the ingest task only.
    aoss_sg = logical_id(resources, "AWS::EC2::SecurityGroup", "AossEndpointSg")
    sources = {
        r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for r in of_type("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == aoss_sg
    }
    assert sources == {
        logical_id(resources, "AWS::EC2::SecurityGroup", "RetrievalSg"),
        logical_id(resources, "AWS::EC2::SecurityGroup", "IngestSg"),
    }


def data_access_rules(resources: Resources) -> dict[str, list[tuple[list[str], list[str]]]]:
    """The data-access policy as principal → [(index resources, permissions)]; a role principal is ``<RoleId>``."""
    data = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::OpenSearchServerless::AccessPolicy" and r["Properties"]["Type"] == "data"
    ]
    assert len(data) == 1
    # Fn::Join of JSON text around Fn::GetAtt role ARNs: render the ARNs as <RoleId>, then parse.
    rules = json.loads(render(data[0]["Properties"]["Policy"]).replace(".Arn>", ">"))
    out: dict[str, list[tuple[list[str], list[str]]]] = {}
    for rule in rules:
        for principal in rule["Principal"]:
            out.setdefault(principal.strip("<>"), []).extend((r["Resource"], r["Permission"]) for r in rule["Rules"])
    return out


def test_data_access_is_least_privilege_for_what_each_caller_sends(resources: Resources) -> None:
    rules = data_access_rules(resources)
    retrieval = logical_id(resources, "AWS::IAM::Role", "RetrievalTaskRole")
    ingest = logical_id(resources, "AWS::IAM::Role", "IngestTaskRole")
    assert set(rules) == {retrieval, ingest}  # no admin principals by default
    index = ["index/mangaassist-products/manga-catalog"]  # the one index, not index/<collection>/*
    # Retrieval searches (ReadDocument) and writes stock changes with a partial _update (WriteDocument).
    assert rules[retrieval] == [(index, ["aoss:ReadDocument", "aoss:WriteDocument"])]
    # The ingest (re)creates the index and bulk-loads it; it reads no documents.
    assert rules[ingest] == [
        (index, ["aoss:DescribeIndex", "aoss:CreateIndex", "aoss:DeleteIndex", "aoss:WriteDocument"])
    ]


def test_admin_principals_are_added_to_the_data_access_policy(tmp_path: Path) -> None:
    admin = "arn:aws:iam::123456789012:role/ci"
    _, path = synth(tmp_path, {"aossAdminPrincipals": admin})
    rules = data_access_rules(json.loads(path.read_text())["Resources"])
    assert len(rules) == 3 and {r for _, perms in rules[admin] for r in perms} == {"aoss:*"}


def test_retrieval_runs_the_opensearch_store_against_the_collection(resources: Resources) -> None:
    collection = logical_id(resources, "AWS::OpenSearchServerless::Collection", "Collection")
    app = next(c for c in task_containers(resources, "retrieval") if c["Name"] == "retrieval")
    env = env_of(app)
    assert env["MANGAASSIST_RETRIEVAL_STORE"] == "opensearch"
    assert render(env["MANGAASSIST_RETRIEVAL_OPENSEARCH_ENDPOINT"]) == f"<{collection}.CollectionEndpoint>"
    assert env["MANGAASSIST_RETRIEVAL_OPENSEARCH_INDEX"] == "manga-catalog"
    assert env["MANGAASSIST_RETRIEVAL_OPENSEARCH_SERVICE"] == "aoss"
    assert env["MANGAASSIST_RETRIEVAL_OPENSEARCH_AUTH"] == "sigv4"
    # SigV4 signs for the stack's region (explicitly, not only through the AWS_REGION default).
    assert render(env["MANGAASSIST_RETRIEVAL_AWS_REGION"]) == "<AWS::Region>"
    # Its tasks share stock through the index (decision 0004): no peer list, and the poll
    # that brings other tasks' stock changes is not turned off.
    assert "MANGAASSIST_RETRIEVAL_PEERS" not in env
    assert float(env.get("MANGAASSIST_RETRIEVAL_OPENSEARCH_STOCK_POLL_S", "1")) > 0


def settings_fields(path: Path, class_name: str) -> set[str]:
    """Annotated fields of a pydantic-settings class, read from its source (the deploy venv lacks the service)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name)
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def test_the_retrieval_environment_names_real_settings(resources: Resources) -> None:
    """Every MANGAASSIST_RETRIEVAL_* the stack sets is a field of the service's settings (a typo is silently ignored)."""
    root = DEPLOY.parent
    fields = settings_fields(
        root / "services/retrieval/mangaassist/retrieval/config.py", "RetrievalSettings"
    ) | settings_fields(root / "libs/common/mangaassist/common/settings.py", "ServiceSettings")
    app = next(c for c in task_containers(resources, "retrieval") if c["Name"] == "retrieval")
    names = {
        n.removeprefix("MANGAASSIST_RETRIEVAL_").lower() for n in env_of(app) if n.startswith("MANGAASSIST_RETRIEVAL_")
    }
    assert {"store", "opensearch_endpoint", "aws_region"} <= names
    assert names <= fields, names - fields


def test_ingest_task_loads_the_index_with_the_retrieval_image_and_its_own_role(resources: Resources) -> None:
    task = resources[logical_id(resources, "AWS::ECS::TaskDefinition", "IngestTask")]
    containers = task["Properties"]["ContainerDefinitions"]
    assert [c["Name"] for c in containers] == ["ingest"]
    ingest = containers[0]
    assert ingest["Command"] == ["python", "-m", "mangaassist.retrieval.ingest", "--opensearch"]
    retrieval = next(c for c in task_containers(resources, "retrieval") if c["Name"] == "retrieval")
    assert ingest["Image"] == retrieval["Image"]  # the same image: it carries the catalog's embeddings
    opensearch = {
        k: v
        for k, v in env_of(retrieval).items()
        if k.startswith("MANGAASSIST_RETRIEVAL_") and not k.endswith(("_HOST", "_PORT", "_LOG_LEVEL"))
    }
    assert env_of(ingest) == opensearch
    role = logical_id(resources, "AWS::IAM::Role", "IngestTaskRole")
    assert task["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": [role, "Arn"]}
    # A one-off task: no ECS service runs it.
    ingest_id = logical_id(resources, "AWS::ECS::TaskDefinition", "IngestTask")
    assert not [
        r
        for r in resources.values()
        if r["Type"] == "AWS::ECS::Service" and r["Properties"]["TaskDefinition"] == {"Ref": ingest_id}
    ]


def test_ingest_command_is_an_output(template: Template) -> None:
    outputs = template.find_outputs("IngestCommand")
    assert len(outputs) == 1
    text = render(outputs["IngestCommand"]["Value"])
    assert text.startswith("aws ecs run-task --launch-type FARGATE --cluster ")
    assert "assignPublicIp=DISABLED" in text


def test_no_task_role_has_a_wildcard_resource_except_xray(resources: Resources) -> None:
    for role in [f"{spec.name.title()}TaskRole" for spec in SERVICES] + ["IngestTaskRole", "DetectorTaskRole"]:
        for statement in role_statements(resources, role):
            if "*" in resources_of(statement):
                # PutMetricData takes no resource: the detector's is held to its namespace by a condition.
                namespaced = actions(statement) == ["cloudwatch:PutMetricData"] and "cloudwatch:namespace" in (
                    statement.get("Condition", {}).get("StringEquals", {})
                )
                assert namespaced or all(a.startswith("xray:") for a in actions(statement)), statement
            assert not any(a.endswith(":*") or a == "*" for a in actions(statement)), statement


# ---- data stores -----------------------------------------------------------------------


def test_dynamodb_tables(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 2)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "DeletionProtectionEnabled": True,
        },
    )


def test_vector_collection_with_its_policies(template: Template, resources: Resources) -> None:
    template.has_resource_properties("AWS::OpenSearchServerless::Collection", {"Type": "VECTORSEARCH"})
    collection = resources[logical_id(resources, "AWS::OpenSearchServerless::Collection", "Collection")]
    kinds = {resources[d]["Properties"]["Type"] for d in collection.get("DependsOn", [])}
    assert kinds == {"encryption", "network"}


def test_valkey_cache_with_vector_search_version_and_tls(of_type: OfType) -> None:
    groups = list(of_type("AWS::ElastiCache::ReplicationGroup").values())
    assert len(groups) == 1
    props = groups[0]["Properties"]
    assert props["Engine"] == "valkey"
    major, minor = (int(x) for x in props["EngineVersion"].split(".")[:2])
    assert (major, minor) >= (8, 2)
    assert props["TransitEncryptionEnabled"] is True and props["AtRestEncryptionEnabled"] is True


def test_guardrail_is_created_and_wired_into_inference(template: Template, resources: Resources) -> None:
    template.resource_count_is("AWS::Bedrock::Guardrail", 1)
    template.resource_count_is("AWS::Bedrock::GuardrailVersion", 1)
    env = env_of(next(c for c in task_containers(resources, "inference") if c["Name"] == "inference"))
    assert render(env["MANGAASSIST_INFERENCE_GUARDRAIL_ID"]) == "<Guardrail.GuardrailId>"


def test_guardrail_runs_the_standard_tier_through_a_cross_region_profile(
    resources: Resources,
    of_type: OfType,
) -> None:
    """Classic covers English, French and Spanish; Japanese needs Standard, and Standard a profile."""
    (guardrail,) = of_type("AWS::Bedrock::Guardrail").values()
    props = guardrail["Properties"]
    assert props["ContentPolicyConfig"]["ContentFiltersTierConfig"] == {"TierName": "STANDARD"}
    profile = render(props["CrossRegionConfig"]["GuardrailProfileArn"])
    assert profile == (
        "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:guardrail-profile/apac.guardrail.v1:0"
    )
    # Applying it: the guardrail, and the profile in every destination Region (this account, this id).
    apply = {
        s["Sid"]: resources_of(s) for s in bedrock_statements(resources) if actions(s) == ["bedrock:ApplyGuardrail"]
    }
    assert apply == {
        "ApplyTheGuardrail": ["<Guardrail.GuardrailArn>"],
        "ApplyThroughTheGuardrailProfile": [
            "arn:<AWS::Partition>:bedrock:*:<AWS::AccountId>:guardrail-profile/apac.guardrail.v1:0"
        ],
    }


def test_a_brought_guardrail_replaces_the_created_one(brought_guardrail: tuple[MangaAssistStack, Path]) -> None:
    stack, _ = brought_guardrail
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Bedrock::Guardrail", 0)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "bedrock:ApplyGuardrail",
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        Match.array_with([Match.string_like_regexp(":guardrail/gr-abc123$")]),
                                    ]
                                },
                            }
                        )
                    ]
                )
            },
        },
    )
    # With a certificate the entry is HTTPS only.
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 443, "Protocol": "HTTPS"})
    template.resource_properties_count_is("AWS::ElasticLoadBalancingV2::Listener", {"Port": 80}, 0)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"guardrailId": "gr-1"}, "go together"),
        ({"aossStandbyReplicas": "MAYBE"}, "ENABLED or DISABLED"),
        ({"maxAzs": 7}, "maxAzs"),
        ({"maxAzs": 1}, "at least two AZs"),
        ({"logRetentionDays": 12}, "logRetentionDays"),
        ({"collectorConfig": "deploy/otel/missing.yaml"}, "collectorConfig"),
        ({"certificateArn": ""}, "certificateArn is required"),
        ({"certificateArn": "not-an-arn"}, "certificateArn is required"),
        ({"wafRateLimit": 5}, "wafRateLimit"),
        ({"allowedCidrs": "10.0.0.0/33"}, "allowedCidrs"),
        ({"stackName": "9lives"}, "stackName"),
        ({"guardrailProfileId": "apac"}, "guardrailProfileId"),
    ],
)
def test_bad_settings_fail_synth_with_a_clear_message(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeploySettings.from_context({"certificateArn": CERTIFICATE, **context}.get)


# ---- two stacks in one account and Region ------------------------------------------------

# Names a resource takes in the account, plus the metrics namespace an alarm reads.
PHYSICAL_NAME_KEYS = ("Name", "LogGroupName", "EcrRepositoryPrefix", "AlarmName", "Namespace")


def physical_names(resources: Resources) -> dict[str, str]:
    """Every explicit physical name the template chooses (value → resource), by property."""
    names: dict[str, str] = {}
    for lid, r in resources.items():
        for key in PHYSICAL_NAME_KEYS:
            value = r.get("Properties", {}).get(key)
            if isinstance(value, str):
                names[f"{r['Type']}|{value}"] = lid
    return names


def test_every_name_derives_from_the_stack_name_so_two_stacks_fit(
    synthesized: tuple[MangaAssistStack, Path], tmp_path: Path
) -> None:
    _, first = synthesized
    _, second = synth(tmp_path, {"stackName": "MangaAssistStagingForTokyoTeam"})
    a = physical_names(json.loads(first.read_text())["Resources"])
    b = physical_names(json.loads(second.read_text())["Resources"])
    kinds = {k.split("|", 1)[0] for k in a}
    assert {
        "AWS::OpenSearchServerless::Collection",
        "AWS::OpenSearchServerless::SecurityPolicy",
        "AWS::OpenSearchServerless::AccessPolicy",
        "AWS::OpenSearchServerless::VpcEndpoint",
        "AWS::Bedrock::Guardrail",
        "AWS::Logs::LogGroup",
        "AWS::ECR::PullThroughCacheRule",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::WAFv2::WebACL",
        "AWS::CloudWatch::Alarm",
    } <= kinds
    assert not set(a) & set(b), sorted(set(a) & set(b))
    # The longest derived names stay inside the tightest limits (OpenSearch 32, ECR prefix 30).
    long = StackNames("MangaAssistStagingForTokyoTeam")
    assert long.prefix != StackNames("MangaAssistStagingForTokyoTeamB").prefix
    assert len(long.collection) <= 32 and len(long.pull_through_prefix) <= 30
    # The default stack keeps the names it always had.
    assert StackNames("MangaAssist").collection == "mangaassist-products"
    assert StackNames("MangaAssist").metrics_log_group == "/mangaassist/metrics"


# ---- alarms ----------------------------------------------------------------------------


def test_an_alarm_per_latency_budget_on_the_detectors_metric(of_type: OfType) -> None:
    """The detector sets these alarms' state by name (``mangaassist-latency-<segment>``)."""
    source = (DEPLOY.parent / "libs/observability/mangaassist/observability/budgets.py").read_text()
    budgets_in_source = len(re.findall(r"^\s+Budget\(s\.", source, flags=re.M))
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in of_type("AWS::CloudWatch::Alarm").values()}
    latency = {n: a for n, a in alarms.items() if n.startswith("mangaassist-latency-")}
    assert len(latency) == budgets_in_source >= 10
    vector = latency["mangaassist-latency-vector-search"]
    assert (vector["Namespace"], vector["MetricName"]) == ("MangaAssist/Latency", "SegmentP95")
    assert vector["Dimensions"] == [{"Name": "Segment", "Value": "vector-search"}]
    assert vector["Threshold"] == pytest.approx(150 * 1.2)  # budget + its 20 % alert margin
    blamed = alarms["mangaassist-slowdown-blamed"]
    (query,) = blamed["Metrics"]
    assert query["Expression"] == 'SELECT SUM(SlowdownBlamed) FROM SCHEMA("MangaAssist/Latency", Segment)'


def test_slo_alarms_on_failures_and_end_to_end_p95(of_type: OfType) -> None:
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in of_type("AWS::CloudWatch::Alarm").values()}
    availability = alarms["mangaassist-slo-availability"]
    metrics = {m["Id"]: m for m in availability["Metrics"]}
    outcomes = {
        d["Value"]
        for m in metrics.values()
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "outcome"
    }
    assert outcomes == {"ok", "internal", "unavailable", "timeout", "stream_interrupted"}
    assert all(m["MetricStat"]["Metric"]["Namespace"] == "MangaAssist" for m in metrics.values() if "MetricStat" in m)
    assert availability["Threshold"] == 1.0 and availability["EvaluationPeriods"] == 3
    latency = alarms["mangaassist-slo-latency-p95"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("mangaassist.segment.duration", "p95")
    assert {"Name": "segment", "Value": "manga-assist-request"} in latency["Dimensions"]
    assert latency["Threshold"] == 2000
    assert "AlarmActions" not in latency  # no topic given


def test_alarms_notify_a_given_topic(tmp_path: Path) -> None:
    topic = "arn:aws:sns:ap-northeast-1:111122223333:oncall"
    _, path = synth(tmp_path, {"alarmTopicArn": topic})
    alarms = [
        r["Properties"]
        for r in json.loads(path.read_text())["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert alarms and all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms)


# ---- cdk-nag ----------------------------------------------------------------------------


def nag_report(outdir: Path) -> dict[str, Any]:
    """cdk-nag's AwsSolutions report from CDK's validation report in the cloud assembly."""
    data = json.loads((outdir / "validation-report.json").read_text())
    (plugin,) = data["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    report: dict[str, Any] = plugin
    return report


def test_cdk_nag_finds_nothing_unacknowledged_and_every_acknowledgement_says_why(
    synthesized: tuple[Any, Path],
) -> None:
    """The session's stack was synthesised with AwsSolutionsChecks (as app.py does): a finding
    without an acknowledgement fails synthesis; each acknowledged one carries its reason."""
    _, template = synthesized
    report = nag_report(template.parent)
    assert report["conclusion"] == "success" and report["violations"] == []
    suppressed = report["suppressedViolations"]
    assert suppressed, "the report lists the acknowledged findings"
    for finding in suppressed:
        assert len(finding["reason"]) >= 40, finding["ruleName"]
    rules = {f["ruleName"].split("[")[0] for f in suppressed}
    # What the design keeps on purpose, and nothing else.
    # IAM4: only the CDK custom-resource provider that runs the ingest at deploy (its logs).
    assert rules <= {
        "AwsSolutions-IAM5",
        "AwsSolutions-ECS2",
        "AwsSolutions-SMG4",
        "AwsSolutions-EC23",
        "AwsSolutions-AEC6",
        "AwsSolutions-ELB2",
        "AwsSolutions-S1",
        "AwsSolutions-IAM4",
    }, rules
    assert {
        c["constructPath"].split("/")[1]
        for f in suppressed
        if f["ruleName"].startswith("AwsSolutions-IAM4")
        for c in f["violatingConstructs"]
    } == {"AWS679f53fac002430cb0da5b7982bd2287"}


def test_with_a_region_the_alb_writes_access_logs_and_nag_stays_clean(tmp_path: Path) -> None:
    import aws_cdk as cdk

    _, path = synth(tmp_path, nag=True, env=cdk.Environment(account="111122223333", region="ap-northeast-1"))
    resources = json.loads(path.read_text())["Resources"]
    (alb,) = [r for r in resources.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"]
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true" and attributes["access_logs.s3.prefix"] == "alb"
    report = nag_report(path.parent)
    assert report["conclusion"] == "success"
    assert "AwsSolutions-ELB2" not in {f["ruleName"] for f in report["suppressedViolations"]}


def test_ecs_exec_is_off_by_default_and_complete_when_asked(tmp_path: Path, resources: Resources) -> None:
    """-c ecsExec=true: every service takes ECS Exec (the smoke test's port forward), the agent
    reaches SSM through its own endpoint (no NAT), and its '*' statements are only ssmmessages."""
    for service in (r for r in resources.values() if r["Type"] == "AWS::ECS::Service"):
        assert not service["Properties"].get("EnableExecuteCommand", False)
    _, path = synth(tmp_path, {"ecsExec": "true"}, nag=True)
    on = json.loads(path.read_text())["Resources"]
    services = [r for lid, r in on.items() if r["Type"] == "AWS::ECS::Service" and not lid.startswith("Detector")]
    assert len(services) == 4 and all(s["Properties"]["EnableExecuteCommand"] for s in services)
    endpoints = [render(r["Properties"]["ServiceName"]) for r in on.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    assert "com.amazonaws.<AWS::Region>.ssmmessages" in endpoints
    for spec in SERVICES:
        for statement in role_statements(on, f"{spec.name.title()}TaskRole"):
            if "*" in resources_of(statement):
                # CDK's ECS Exec grant adds DescribeLogGroups (the session-logging check) on '*'.
                assert all(
                    a.startswith(("xray:", "ssmmessages:")) or a == "logs:DescribeLogGroups" for a in actions(statement)
                ), statement


# ---- the bottleneck detector and the ingest, deployed by the stack ---------------------


def test_the_detector_runs_as_one_task_reading_xray_into_this_stacks_namespace_and_alarms(
    resources: Resources,
    of_type: OfType,
) -> None:
    (container,) = task_containers(resources, "detector")
    env = env_of(container)
    assert env["MANGAASSIST_DETECTOR_SOURCE"] == "xray"
    assert env["MANGAASSIST_DETECTOR_NAMESPACE"] == "MangaAssist/Latency"
    assert env["MANGAASSIST_DETECTOR_CREATE_ALARMS"] == "false"  # the stack owns the alarms
    detector_py = DEPLOY.parent / "libs/observability/mangaassist/observability/detector.py"
    fields = settings_fields(detector_py, "DetectorSettings") | settings_fields(
        DEPLOY.parent / "libs/common/mangaassist/common/settings.py", "ServiceSettings"
    )
    named = {k.removeprefix("MANGAASSIST_DETECTOR_").lower() for k in env if k.startswith("MANGAASSIST_DETECTOR_")}
    assert named <= fields, named - fields
    # The alarms it sets by name are the ones this stack created.
    alarm_names = {a["Properties"]["AlarmName"] for a in of_type("AWS::CloudWatch::Alarm").values()}
    assert f"{env['MANGAASSIST_DETECTOR_ALARM_PREFIX']}-latency-vector-search" in alarm_names
    task = logical_id(resources, "AWS::ECS::TaskDefinition", "DetectorTask")
    (service,) = [
        r["Properties"]
        for r in of_type("AWS::ECS::Service").values()
        if r["Properties"]["TaskDefinition"] == {"Ref": task}
    ]
    assert (
        service["DesiredCount"] == 1
        and service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    )


def test_the_detectors_role_reads_traces_and_writes_only_its_namespace_and_alarms(resources: Resources) -> None:
    statements = {s["Sid"]: s for s in role_statements(resources, "DetectorTaskRole")}
    assert set(statements) == {"ReadTraces", "PublishLatencyMetrics", "SetLatencyAlarms"}
    assert actions(statements["ReadTraces"]) == ["xray:GetTraceSummaries", "xray:BatchGetTraces"]
    publish = statements["PublishLatencyMetrics"]
    assert actions(publish) == ["cloudwatch:PutMetricData"]
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": "MangaAssist/Latency"}}
    alarms = statements["SetLatencyAlarms"]
    assert actions(alarms) == ["cloudwatch:SetAlarmState"]
    assert [r.rsplit(":", 1)[1] for r in resources_of(alarms)] == ["mangaassist-latency-*"]
    assert not any("PutMetricAlarm" in a or a.endswith("*") for s in statements.values() for a in actions(s))


def test_the_detector_image_is_the_observability_code_on_the_orchestrators_pinned_set() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stage = dockerfile.split("FROM runtime AS detector", 1)[1].split("\nFROM ", 1)[0]
    assert "COPY --from=deps-orchestrator /opt/venv /opt/venv" in stage
    assert "COPY libs/observability/mangaassist" in stage
    assert 'CMD ["python", "-m", "mangaassist.observability.detector"]' in stage
    needed = {"aioboto3", "numpy", "pydantic-settings"}
    pinned = {line.split("==")[0] for line in (DEPLOY / "requirements/orchestrator.txt").read_text().splitlines()}
    assert needed <= pinned


def test_the_stack_runs_the_ingest_at_deploy_with_least_privilege(resources: Resources, of_type: OfType) -> None:
    ((run_id, run),) = of_type("Custom::AWS").items()
    ingest_task = logical_id(resources, "AWS::ECS::TaskDefinition", "IngestTask")
    for phase in ("Create", "Update"):  # a new ingest task definition (image, catalog) runs it again
        text = render(run["Properties"][phase])
        assert '"action":"runTask"' in text and f"<{ingest_task}>" in text and '"launchType":"FARGATE"' in text
        assert '"assignPublicIp":"DISABLED"' in text
    assert "Delete" not in run["Properties"]  # deleting the stack deletes the collection with its index
    policy = next(
        r["Properties"]["PolicyDocument"]["Statement"]
        for lid, r in of_type("AWS::IAM::Policy").items()
        if lid.startswith("IngestOnDeploy")
    )
    by_sid = {s["Sid"]: s for s in policy}
    assert set(by_sid) == {"RunTheIngestTask", "PassTheIngestRoles"}
    assert actions(by_sid["RunTheIngestTask"]) == ["ecs:RunTask"]
    (family,) = resources_of(by_sid["RunTheIngestTask"])
    assert ":task-definition/" in family and family.endswith(":*")  # its revisions, no other family
    assert "ecs:cluster" in by_sid["RunTheIngestTask"]["Condition"]["ArnEquals"]
    passed = resources_of(by_sid["PassTheIngestRoles"])
    ingest_role = logical_id(resources, "AWS::IAM::Role", "IngestTaskRole")
    assert len(passed) == 2 and f"<{ingest_role}.Arn>" in passed
    assert by_sid["PassTheIngestRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    # It runs once the collection and its network path exist.
    collection = logical_id(resources, "AWS::OpenSearchServerless::Collection", "")
    assert collection in resources[run_id].get("DependsOn", [])
