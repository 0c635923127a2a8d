"""The MangaAssist stack: the seed's network design (section 6) on ECS Fargate.

- A VPC with public subnets (only the load balancer lives there) and private *isolated*
  subnets for every task: **no NAT gateway**. Every AWS call leaves through a VPC
  endpoint — interface endpoints for Bedrock runtime, CloudWatch Logs and Monitoring,
  X-Ray, ECR (api, dkr) and OpenSearch Serverless; gateway endpoints (free) for DynamoDB
  and S3 (ECR keeps image layers in S3, so Fargate pulls images without a NAT).
- One ECS service per mesh service, each with its own task definition, task role and
  security group, an ADOT collector sidecar, container health checks and autoscaling.
  The orchestrator finds the gRPC services through ECS Service Connect (Cloud Map
  namespace + an Envoy proxy per task), which balances each gRPC *request* across tasks
  — plain Cloud Map DNS would pin a long-lived HTTP/2 channel to one task.
- Only the orchestrator may reach the internal services (security-group references);
  only the load balancer may reach the orchestrator.
- Data: DynamoDB sessions (TTL) and orders, an OpenSearch Serverless vector collection
  with its encryption / network / data-access policies (retrieval runs with its OpenSearch
  store; a one-off ingest task, run inside the VPC, creates and loads the index), an ElastiCache Valkey 8.2
  replication group (vector search for the semantic cache), a Bedrock guardrail.
- Public entry: an internet-facing ALB holding the WebSocket natively (the README
  explains the choice over API Gateway WebSocket).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr
from constructs import Construct

from mangaassist_cdk.budgets import budgets
from mangaassist_cdk.config import REPO_ROOT, SERVICES, DeploySettings, ServiceSpec, StackNames

# The k-NN index inside the collection (the retrieval settings' OPENSEARCH_INDEX default):
# data-access rules name exactly this index, not index/<collection>/*.
INDEX_NAME = "manga-catalog"
REGION_PLACEHOLDER = "${env:AWS_REGION}"
# The collector config's per-stack values (defaults for a collector outside the stack).
NAMESPACE_PLACEHOLDER = "${env:MANGAASSIST_METRICS_NAMESPACE:-MangaAssist}"
LOG_GROUP_PLACEHOLDER = "${env:MANGAASSIST_METRICS_LOG_GROUP:-/mangaassist/metrics}"
# The SLO: answered queries that failed server-side (contract error codes) vs every answer;
# client mistakes (invalid_json, invalid_request, too_large, unauthorized, rate_limited) do not count.
SLO_FAILURES = ("internal", "unavailable", "timeout", "stream_interrupted")
SLO_SERVED = ("ok",)
SLO_FAILED_PCT = 1.0
# The orchestrator's operator routes: never routed from the internet.
PRIVATE_PATHS = ("/admin", "/admin/*")
# The orchestrator's shallow liveness route (the ALB's and ECS's health check).
LIVENESS_PATH = "/livez"
# Seconds a task gets after SIGTERM: the services drain for DRAIN_GRACE_S (10 s) first.
STOP_TIMEOUT_S = 30
RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
# Files the image build never needs (also in .dockerignore); keeps asset staging small.
ASSET_EXCLUDES = [
    ".git",
    ".venv",
    ".venv-deploy",
    ".tools",
    ".cache",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "**/__pycache__",
    "cdk.out",
    "deploy/cdk/cdk.out",
    "test-artifacts",
    "bench/results",
    "tests",
]


def allow(
    role: iam.IRole,
    sid: str,
    actions: list[str],
    resources: list[str],
    conditions: typing.Mapping[str, typing.Any] | None = None,
) -> None:
    """One statement named ``sid`` on ``role``: ``actions`` allowed on ``resources`` (under ``conditions``)."""
    role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions))


@dataclass
class MeshService:
    spec: ServiceSpec
    security_group: ec2.SecurityGroup
    task_role: iam.Role
    service: ecs.FargateService | None = None


class MangaAssistStack(cdk.Stack):
    """Everything MangaAssist needs in one region, with no NAT gateway."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        env: cdk.Environment | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=description)
        self.settings = settings
        self.names = StackNames(self.stack_name)
        self._scaling: dict[str, ecs.ScalableTaskCount] = {}

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=settings.max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22),
            ],
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        # Rejected traffic only: what explains a blocked call (an endpoint or security-group
        # mistake) at a fraction of the cost of logging every flow.
        self.vpc.add_flow_log(
            "RejectedFlows",
            traffic_type=ec2.FlowLogTrafficType.REJECT,
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self._log_group("FlowLogs")),
        )

        self.mesh = {
            spec.name: MeshService(
                spec,
                *self._task_identity(
                    spec.name.title(), f"MangaAssist {spec.name} tasks", f"{spec.name}: only what this service calls"
                ),
            )
            for spec in SERVICES
        }
        # The one-off ingest task (retrieval image, ``mangaassist.retrieval.ingest --opensearch``):
        # the collection only accepts traffic from the VPC endpoint, so the index is loaded from inside.
        self.ingest_sg, self.ingest_role = self._task_identity(
            "Ingest",
            "MangaAssist OpenSearch ingest task",
            "OpenSearch ingest: create and bulk-load the one k-NN index",
        )
        # The bottleneck detector (a one-task service): reads X-Ray, writes CloudWatch, nothing else.
        self.detector_sg, self.detector_role = self._task_identity(
            "Detector",
            "MangaAssist bottleneck detector",
            "bottleneck detector: read traces, publish its metrics, set its alarms",
        )
        orchestrator_sg = self.mesh["orchestrator"].security_group
        for name, mesh in self.mesh.items():
            if name != "orchestrator":
                mesh.security_group.add_ingress_rule(
                    orchestrator_sg,
                    ec2.Port.tcp(mesh.spec.port),
                    f"gRPC {name} from the orchestrator only",
                )

        self._endpoints()
        self._data()
        self._guardrail()
        self._telemetry()
        self._cluster()
        self._services()
        self._alarms()
        self._detector()
        self._ingest_on_deploy()
        self._acknowledge_nag_findings()

    # ---- network -------------------------------------------------------------------

    def _endpoints(self) -> None:
        """Interface endpoints (private DNS) reachable only from the task security groups."""
        self.endpoint_sg = self._closed_sg("EndpointSg", "VPC interface endpoints: HTTPS from MangaAssist tasks")
        for mesh in self.mesh.values():
            self.endpoint_sg.add_ingress_rule(mesh.security_group, ec2.Port.tcp(443), f"HTTPS from {mesh.spec.name}")
        self.endpoint_sg.add_ingress_rule(self.ingest_sg, ec2.Port.tcp(443), "HTTPS from the ingest task (ECR, logs)")
        self.endpoint_sg.add_ingress_rule(
            self.detector_sg, ec2.Port.tcp(443), "HTTPS from the detector (X-Ray, CloudWatch, ECR, logs)"
        )
        interface = {
            "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
            "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
            "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
            "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
            # The task execution role fetches the orchestrator's sign-in key at task start.
            "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
            "EcrDkr": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
        }
        if self.settings.cognito_issuer:
            # The user pool's signing keys (JWKS), with no NAT (the pool must have no domain:
            # AWS PrivateLink does not serve user pools that have one).
            interface["CognitoIdp"] = ec2.InterfaceVpcEndpointAwsService("cognito-idp")
        if self.settings.ecs_exec:
            # The ECS Exec agent's channel (no NAT: it needs its own endpoint).
            interface["SsmMessages"] = ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES
        for name, service in interface.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                subnets=self.private_subnets,
                security_groups=[self.endpoint_sg],
                open=False,
            )
        self.vpc.add_gateway_endpoint(
            "DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[self.private_subnets]
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.private_subnets])

        # OpenSearch Serverless has its own endpoint resource (an interface endpoint it manages).
        self.aoss_endpoint_sg = self._closed_sg(
            "AossEndpointSg", "OpenSearch Serverless endpoint: HTTPS from retrieval and its ingest task"
        )
        self.aoss_endpoint_sg.add_ingress_rule(
            self.mesh["retrieval"].security_group,
            ec2.Port.tcp(443),
            "HTTPS from retrieval",
        )
        self.aoss_endpoint_sg.add_ingress_rule(self.ingest_sg, ec2.Port.tcp(443), "HTTPS from the ingest task")
        self.aoss_endpoint = aoss.CfnVpcEndpoint(
            self,
            "AossEndpoint",
            name=self.names.aoss_endpoint,
            vpc_id=self.vpc.vpc_id,
            subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
            security_group_ids=[self.aoss_endpoint_sg.security_group_id],
        )

    # ---- data ----------------------------------------------------------------------

    def _data(self) -> None:
        self.sessions = dynamodb.Table(
            self,
            "Sessions",
            partition_key=dynamodb.Attribute(name="session_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.orders = dynamodb.Table(
            self,
            "Orders",
            partition_key=dynamodb.Attribute(name="order_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Without a JWKS issuer (-c authIssuer): the HS256 key that verifies customer sign-in
        # tokens (the orchestrator's AUTH_SECRET); the sign-in service that issues them reads it too.
        self.auth_secret = (
            None
            if self.settings.auth_issuer
            else secretsmanager.Secret(
                self,
                "AuthSecret",
                description="MangaAssist: HS256 key for customer sign-in tokens",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=64, exclude_punctuation=True, include_space=False
                ),
            )
        )
        orchestrator_role = self.mesh["orchestrator"].task_role
        allow(
            orchestrator_role, "SessionsReadWrite", ["dynamodb:GetItem", "dynamodb:PutItem"], [self.sessions.table_arn]
        )
        # The connection pool's warm-up at start (the DynamoDB client's warm(), dynamo.py): one DescribeTable.
        allow(orchestrator_role, "SessionsWarmUp", ["dynamodb:DescribeTable"], [self.sessions.table_arn])
        allow(orchestrator_role, "OrdersRead", ["dynamodb:GetItem"], [self.orders.table_arn])

        # OpenSearch Serverless: encryption and network policies must exist before the collection.
        collection_name = self.names.collection
        enc = aoss.CfnSecurityPolicy(
            self,
            "AossEncryption",
            name=self.names.aoss_policy("enc"),
            type="encryption",
            policy=json.dumps(
                {
                    "Rules": [{"ResourceType": "collection", "Resource": [f"collection/{collection_name}"]}],
                    "AWSOwnedKey": True,
                }
            ),
        )
        net = aoss.CfnSecurityPolicy(
            self,
            "AossNetwork",
            name=self.names.aoss_policy("net"),
            type="network",
            policy=cdk.Fn.to_json_string(
                [
                    {
                        "Rules": [
                            {"ResourceType": "collection", "Resource": [f"collection/{collection_name}"]},
                        ],
                        "AllowFromPublic": False,
                        "SourceVPCEs": [self.aoss_endpoint.attr_id],
                    }
                ]
            ),
        )
        self.collection = aoss.CfnCollection(
            self,
            "Collection",
            name=collection_name,
            type="VECTORSEARCH",
            standby_replicas=self.settings.aoss_standby_replicas,
            description="MangaAssist product embeddings (k-NN)",
        )
        self.collection.node.add_dependency(enc, net)
        retrieval_role = self.mesh["retrieval"].task_role
        index = f"index/{collection_name}/{INDEX_NAME}"
        # Exactly what each caller sends (mangaassist/retrieval/opensearch.py):
        # - retrieval: k-NN searches, UpdateStock's row read and the stock poll (``_search`` → ReadDocument),
        #   UpdateStock's partial update (``_update`` → WriteDocument); it never creates,
        #   deletes or describes the index;
        # - the ingest task: ``HEAD`` / ``DELETE`` / ``PUT <index>`` (DescribeIndex,
        #   DeleteIndex, CreateIndex: Serverless recreates the index on each ingest) and
        #   ``_bulk`` (WriteDocument); it reads no documents.
        data_rules = [
            {
                "Rules": [
                    {
                        "ResourceType": "index",
                        "Resource": [index],
                        "Permission": ["aoss:ReadDocument", "aoss:WriteDocument"],
                    }
                ],
                "Principal": [retrieval_role.role_arn],
            },
            {
                "Rules": [
                    {
                        "ResourceType": "index",
                        "Resource": [index],
                        "Permission": [
                            "aoss:DescribeIndex",
                            "aoss:CreateIndex",
                            "aoss:DeleteIndex",
                            "aoss:WriteDocument",
                        ],
                    }
                ],
                "Principal": [self.ingest_role.role_arn],
            },
        ]
        if self.settings.aoss_admin_principals:
            data_rules.append(
                {
                    "Rules": [
                        {"ResourceType": "index", "Resource": [f"index/{collection_name}/*"], "Permission": ["aoss:*"]},
                        {
                            "ResourceType": "collection",
                            "Resource": [f"collection/{collection_name}"],
                            "Permission": ["aoss:*"],
                        },
                    ],
                    "Principal": list(self.settings.aoss_admin_principals),
                }
            )
        aoss.CfnAccessPolicy(
            self,
            "AossDataAccess",
            name=self.names.aoss_policy("data"),
            type="data",
            policy=cdk.Fn.to_json_string(data_rules),
        )
        for role in (retrieval_role, self.ingest_role):
            allow(role, "VectorCollection", ["aoss:APIAccessAll"], [self.collection.attr_arn])

        # ElastiCache Valkey (>= 8.2: vector search) for the semantic cache; TLS + encryption at rest.
        self.cache_sg = self._closed_sg("CacheSg", "Valkey semantic cache: from the orchestrator only")
        self.cache_sg.add_ingress_rule(
            self.mesh["orchestrator"].security_group, ec2.Port.tcp(6379), "Valkey from the orchestrator"
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "CacheSubnets",
            description="MangaAssist cache (private subnets)",
            subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
        )
        multi_az = self.settings.cache_replicas > 0 and self.settings.max_azs > 1
        self.cache = elasticache.CfnReplicationGroup(
            self,
            "Cache",
            replication_group_description="MangaAssist semantic cache (Valkey vector search)",
            engine="valkey",
            engine_version="8.2",
            cache_node_type=self.settings.cache_node_type,
            num_node_groups=1,
            replicas_per_node_group=self.settings.cache_replicas,
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.cache_sg.security_group_id],
            port=6379,
        )

    def _guardrail(self) -> None:
        """A Bedrock guardrail (content filters + PII) on the Standard tier through a cross-Region
        guardrail profile, or the one the user brings."""
        self.guardrail_profile_arn = self.format_arn(
            service="bedrock", resource="guardrail-profile", resource_name=self.settings.guardrail_profile_id
        )
        if self.settings.guardrail_id:
            self.guardrail_id = self.settings.guardrail_id
            self.guardrail_version = self.settings.guardrail_version
            self.guardrail_arn = cdk.Arn.format(
                cdk.ArnComponents(
                    service="bedrock",
                    resource="guardrail",
                    resource_name=self.settings.guardrail_id,
                    arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
                ),
                self,
            )
            return
        strength = "HIGH"
        guardrail = bedrock.CfnGuardrail(
            self,
            "Guardrail",
            name=self.names.guardrail,
            description="MangaAssist answers: harmful content and customer PII",
            blocked_input_messaging="申し訳ありませんが、そのご質問にはお答えできません。 / Sorry, I can't help with that.",
            blocked_outputs_messaging="申し訳ありませんが、その回答はお届けできません。 / Sorry, I can't provide that answer.",
            content_policy_config=bedrock.CfnGuardrail.ContentPolicyConfigProperty(
                # Standard: the languages our customers write in (Japanese), prompt-attack
                # detection that sees through paraphrase; it requires the profile below.
                content_filters_tier_config=bedrock.CfnGuardrail.ContentFiltersTierConfigProperty(tier_name="STANDARD"),
                filters_config=[
                    bedrock.CfnGuardrail.ContentFilterConfigProperty(
                        type=t, input_strength=strength, output_strength=strength
                    )
                    for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")
                ]
                + [
                    bedrock.CfnGuardrail.ContentFilterConfigProperty(
                        type="PROMPT_ATTACK", input_strength=strength, output_strength="NONE"
                    )
                ],
            ),
            sensitive_information_policy_config=bedrock.CfnGuardrail.SensitiveInformationPolicyConfigProperty(
                pii_entities_config=[
                    bedrock.CfnGuardrail.PiiEntityConfigProperty(type="EMAIL", action="ANONYMIZE"),
                    bedrock.CfnGuardrail.PiiEntityConfigProperty(type="PHONE", action="ANONYMIZE"),
                    bedrock.CfnGuardrail.PiiEntityConfigProperty(type="CREDIT_DEBIT_CARD_NUMBER", action="BLOCK"),
                ]
            ),
            cross_region_config=bedrock.CfnGuardrail.GuardrailCrossRegionConfigProperty(
                guardrail_profile_arn=self.guardrail_profile_arn
            ),
        )
        version = bedrock.CfnGuardrailVersion(
            self, "GuardrailVersion", guardrail_identifier=guardrail.attr_guardrail_id
        )
        self.guardrail_id = guardrail.attr_guardrail_id
        self.guardrail_version = version.attr_version
        self.guardrail_arn = guardrail.attr_guardrail_arn

    def _telemetry(self) -> None:
        """Where the ADOT sidecars write: X-Ray (any resource: X-Ray has no resource ARNs) and EMF logs."""
        self.metrics_log_group = self._log_group("MetricsLogGroup", log_group_name=self.names.metrics_log_group)
        for mesh in self.mesh.values():
            allow(
                mesh.task_role,
                "Traces",
                [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:PutSpans",
                    "xray:PutSpansForIndexing",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                ["*"],
            )
            allow(
                mesh.task_role,
                "EmfMetrics",
                ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                [self.metrics_log_group.log_group_arn],
            )

        inference_role = self.mesh["inference"].task_role
        for statement in self.model_statements():
            inference_role.add_to_policy(statement)
        allow(inference_role, "ApplyTheGuardrail", ["bedrock:ApplyGuardrail"], [self.guardrail_arn])
        # Cross-Region guardrail inference: the profile in every destination Region (the
        # profile's Region list grows as AWS adds Regions, so the Region is a wildcard; the
        # account and the one profile id are not).
        allow(
            inference_role,
            "ApplyThroughTheGuardrailProfile",
            ["bedrock:ApplyGuardrail"],
            [
                self.format_arn(
                    service="bedrock",
                    region="*",
                    resource="guardrail-profile",
                    resource_name=self.settings.guardrail_profile_id,
                )
            ],
        )

    def model_statements(self) -> list[iam.PolicyStatement]:
        """Invoke on exactly the two models, the way Bedrock authorises each kind of id.

        ``Converse`` is authorised as ``InvokeModel`` and ``ConverseStream`` as
        ``InvokeModelWithResponseStream``. A cross-Region inference profile needs the profile
        (in this Region) and the foundation model in every Region the profile routes to
        (Amazon Bedrock user guide, "Geographic cross-Region inference" and "Global
        cross-Region inference", IAM policy requirements).
        """
        invoke = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
        profiles: list[str] = []
        regional: list[str] = []
        global_models: list[str] = []
        for model in self.settings.models:
            if not model.is_profile:
                regional.append(self.foundation_model_arn(model.model_id, self.region))
                continue
            profiles.append(
                self.format_arn(service="bedrock", resource="inference-profile", resource_name=model.model_id)
            )
            if model.geography == "global":
                regional.append(self.foundation_model_arn(model.foundation_model_id, self.region))
                global_models.append(self.foundation_model_arn(model.foundation_model_id, ""))
            else:
                regional.extend(
                    self.foundation_model_arn(model.foundation_model_id, r) for r in self.settings.destinations(model)
                )
        statements = []
        if profiles:
            statements.append(iam.PolicyStatement(sid="InvokeThroughTheProfiles", actions=invoke, resources=profiles))
        statements.append(iam.PolicyStatement(sid="InvokeTheModelsWhereTheyRun", actions=invoke, resources=regional))
        if global_models:
            statements.append(
                iam.PolicyStatement(
                    sid="InvokeGlobalProfileModels",
                    actions=invoke,
                    resources=global_models,
                    conditions={"StringEquals": {"aws:RequestedRegion": "unspecified"}},
                )
            )
        return statements

    def foundation_model_arn(self, model_id: str, region: str) -> str:
        """``arn:<partition>:bedrock:<region>::foundation-model/<id>`` (no account: AWS owns models)."""
        return cdk.Arn.format(
            cdk.ArnComponents(
                service="bedrock",
                region=region,
                account="",
                resource="foundation-model",
                resource_name=model_id,
                arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
            ),
            self,
        )

    # ---- alarms --------------------------------------------------------------------

    def _alarms(self) -> None:
        """CloudWatch alarms for the bottleneck detector's metrics and for the SLO.

        - One per latency budget on the detector's ``SegmentP95`` (its namespace for this
          stack), named as the detector names them (``<prefix>-latency-<segment>``), so its
          ``SetAlarmState`` after each window lands on these, and the thresholds are the
          budgets' (p95 above the budget by more than its alert percentage).
        - ``<prefix>-slowdown-blamed``: the detector named a segment that got slower than
          its recent unperturbed windows (any segment, through a Metrics Insights query).
        - SLO availability: server-side failures (``internal``, ``unavailable``, ``timeout``,
          ``stream_interrupted``) above 1 % of answered queries for 15 minutes.
        - SLO latency: the end-to-end p95 (``manga-assist-request``) above its 2 s budget
          for 15 minutes, from the orchestrator's own histogram (EMF), so it does not depend
          on the detector running.
        """
        self.alarms: list[cloudwatch.Alarm] = []
        table = budgets()
        for budget in table:
            self._alarm(
                f"Latency{_camel(budget.segment)}",
                alarm_name=self.names.resource(f"latency-{budget.segment}"),
                alarm_description=(
                    f"p95 of {budget.segment} above its {budget.budget_ms:g} ms budget by more "
                    f"than {budget.alert_pct:g} % (bottleneck detector)"
                ),
                metric=cloudwatch.Metric(
                    namespace=self.names.latency_namespace,
                    metric_name="SegmentP95",
                    dimensions_map={"Segment": budget.segment},
                    statistic="Maximum",
                    period=cdk.Duration.minutes(5),
                ),
                threshold=budget.threshold_ms,
                evaluation_periods=1,
            )
        # Any segment: a Metrics Insights query (a math alarm may name at most 10 metrics).
        self._alarm(
            "SlowdownBlamed",
            alarm_name=self.names.resource("slowdown-blamed"),
            alarm_description="The bottleneck detector blamed a segment for a slowdown against its recent windows",
            metric=cloudwatch.MathExpression(
                expression=(f'SELECT SUM(SlowdownBlamed) FROM SCHEMA("{self.names.latency_namespace}", Segment)'),
                using_metrics={},
                label="segments blamed",
                period=cdk.Duration.minutes(5),
            ),
            threshold=0,
            evaluation_periods=1,
        )

        def requests(outcome: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=self.names.metrics_namespace,
                metric_name="mangaassist.requests",
                dimensions_map={"service.name": "orchestrator", "outcome": outcome},
                statistic="Sum",
                period=cdk.Duration.minutes(5),
            )

        failed = {f"f{i}": requests(o) for i, o in enumerate(SLO_FAILURES)}
        served = {f"s{i}": requests(o) for i, o in enumerate(SLO_SERVED)}
        self._alarm(
            "SloAvailability",
            alarm_name=self.names.resource("slo-availability"),
            alarm_description="SLO: more than 1 % of answered queries failed server-side for 15 minutes",
            metric=cloudwatch.MathExpression(
                expression=(
                    f"100 * ({'+'.join(f'FILL({k},0)' for k in failed)}) / "
                    f"MAX([1, {'+'.join(f'FILL({k},0)' for k in {**failed, **served})}])"
                ),
                using_metrics={**failed, **served},
                label="failed %",
                period=cdk.Duration.minutes(5),
            ),
            threshold=SLO_FAILED_PCT,
            evaluation_periods=3,
            datapoints_to_alarm=3,
        )
        end_to_end = next(b for b in table if b.segment == "manga-assist-request")
        self._alarm(
            "SloLatency",
            alarm_name=self.names.resource("slo-latency-p95"),
            alarm_description=f"SLO: end-to-end p95 above {end_to_end.budget_ms:g} ms for 15 minutes",
            metric=cloudwatch.Metric(
                namespace=self.names.metrics_namespace,
                metric_name="mangaassist.segment.duration",
                dimensions_map={"service.name": "orchestrator", "segment": end_to_end.segment},
                statistic="p95",
                period=cdk.Duration.minutes(5),
            ),
            threshold=end_to_end.budget_ms,
            evaluation_periods=3,
            datapoints_to_alarm=3,
        )
        if self.settings.alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", self.settings.alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
                alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))

    def _detector(self) -> None:
        """The bottleneck detector as a one-task service: every 5 minutes it reads the last
        window of traces from X-Ray, publishes each segment's p95 (and the bottleneck and any
        slowdown it blames) to this stack's latency namespace, and sets this stack's latency
        alarms (created by ``_alarms``, so the detector's role needs no ``PutMetricAlarm``).
        A service rather than a scheduled task: it keeps its recent windows in memory to blame
        a slowdown against.

        Least privilege: the two X-Ray reads (no resource-level permissions in X-Ray),
        ``PutMetricData`` only into its namespace (a condition key: the action takes no
        resource), ``SetAlarmState`` only on this stack's latency alarms.
        """
        role = self.detector_role
        allow(role, "ReadTraces", ["xray:GetTraceSummaries", "xray:BatchGetTraces"], ["*"])
        allow(
            role,
            "PublishLatencyMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": self.names.latency_namespace}},
        )
        allow(
            role,
            "SetLatencyAlarms",
            ["cloudwatch:SetAlarmState"],
            [
                self.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=self.names.resource("latency-*"),
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        self.detector_task = self._fargate_task("DetectorTask", 256, 512, role)
        log_group = self._log_group("DetectorLogs")
        self.detector_task.add_container(
            "detector",
            image=_image("detector"),
            essential=True,
            environment={
                "MANGAASSIST_DETECTOR_SOURCE": "xray",
                "MANGAASSIST_DETECTOR_NAMESPACE": self.names.latency_namespace,
                "MANGAASSIST_DETECTOR_ALARM_PREFIX": self.names.prefix,
                "MANGAASSIST_DETECTOR_CREATE_ALARMS": "false",
                "MANGAASSIST_DETECTOR_INTERVAL_S": "300",
                "MANGAASSIST_DETECTOR_WINDOW_S": "300",
                "AWS_REGION": self.region,
            },
            logging=ecs.LogDriver.aws_logs(stream_prefix="detector", log_group=log_group),
            stop_timeout=cdk.Duration.seconds(10),
        )
        self.detector_service = ecs.FargateService(
            self,
            "DetectorService",
            cluster=self.cluster,
            task_definition=self.detector_task,
            desired_count=1,
            security_groups=[self.detector_sg],
            vpc_subnets=self.private_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=0,
            max_healthy_percent=100,  # one reader at a time: no overlap on deploys
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )

    def _ingest_on_deploy(self) -> None:
        """Run the ingest task as part of the deployment: it creates the k-NN index with its
        mapping (the index template: vector field, engine, space, filter fields, routing) and
        bulk-loads the catalog. A custom resource calls ``ecs:RunTask`` on create and again on
        every update that changes the ingest task definition (a new image: a new catalog or
        mapping), so a fresh stack serves from a loaded index without a manual step.

        Least privilege: ``RunTask`` on this one task definition family in this cluster, and
        ``PassRole`` of exactly its task and execution roles to ECS.
        """
        private = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids
        run = cr.AwsSdkCall(
            service="ECS",
            action="runTask",
            parameters={
                "cluster": self.cluster.cluster_name,
                "taskDefinition": self.ingest_task.task_definition_arn,
                "launchType": "FARGATE",
                "count": 1,
                "startedBy": "cfn-ingest",
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": private,
                        "securityGroups": [self.ingest_sg.security_group_id],
                        "assignPublicIp": "DISABLED",
                    }
                },
            },
            # The task ARN changes per run; the resource's identity is the task definition run.
            physical_resource_id=cr.PhysicalResourceId.of(f"{self.names.prefix}-ingest"),
            output_paths=["tasks.0.taskArn"],
        )
        family_arn = self.format_arn(
            service="ecs", resource="task-definition", resource_name=f"{self.ingest_task.family}:*"
        )
        execution_role = self.ingest_task.obtain_execution_role()
        self.ingest_run = cr.AwsCustomResource(
            self,
            "IngestOnDeploy",
            on_create=run,
            on_update=run,
            install_latest_aws_sdk=False,
            timeout=cdk.Duration.minutes(2),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        sid="RunTheIngestTask",
                        actions=["ecs:RunTask"],
                        resources=[family_arn],
                        conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
                    ),
                    iam.PolicyStatement(
                        sid="PassTheIngestRoles",
                        actions=["iam:PassRole"],
                        resources=[self.ingest_role.role_arn, execution_role.role_arn],
                        conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                    ),
                ]
            ),
        )
        # The index must exist where the collection and its access policies do; the task's
        # network path (the OpenSearch endpoint) must be there before it runs.
        self.ingest_run.node.add_dependency(self.collection, self.aoss_endpoint)

    # ---- cdk-nag -------------------------------------------------------------------

    def _acknowledge_nag_findings(self) -> None:
        """The AwsSolutions findings this design keeps, each with its reason (cdk-nag v3:
        ``Validations.of(construct).acknowledge``; a finding not listed fails ``cdk synth``)."""

        def ack(construct: Construct, rule: str, reason: str) -> None:
            cdk.Validations.of(construct).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason)
            )

        def shown(value: str, pseudo: str) -> str:
            """A stack attribute as cdk-nag writes it in a finding: the value, or ``<AWS::…>``."""
            return f"<AWS::{pseudo}>" if cdk.Token.is_unresolved(value) else value

        partition, region, account = (
            shown(self.partition, "Partition"),
            shown(self.region, "Region"),
            shown(self.account, "AccountId"),
        )

        for mesh in self.mesh.values():
            if self.exec_log_group is not None:
                group = self.get_logical_id(typing.cast(cdk.CfnElement, self.exec_log_group.node.default_child))
                ack(
                    mesh.task_role,
                    f"IAM5[Resource::arn:{partition}:logs:{region}:{account}:log-group:<{group}>:*]",
                    "ECS Exec writes each session's log stream into the stack's own session log group; stream "
                    "names are made per session, so the grant covers that one group's streams",
                )
            ack(
                mesh.task_role,
                "IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutSpans/GetSampling* (and, with -c ecsExec=true, the ECS Exec agent's "
                "ssmmessages channel actions and logs:DescribeLogGroups) have no resource-level permissions: '*' is the only resource they "
                "accept (every other statement of this role names its resources)",
            )
        for task in [
            *(m.service.task_definition for m in self.mesh.values() if m.service),
            self.ingest_task,
            self.detector_task,
        ]:
            ack(
                task,
                "ECS2",
                "The environment holds only non-secret settings (ports, endpoints, table and index names, model "
                "ids); the one secret, the sign-in key, is injected from Secrets Manager at task start",
            )
            role = task.obtain_execution_role()
            ack(
                role,
                "IAM5[Resource::*]",
                "ecr:GetAuthorizationToken (added by CDK for image pulls) has no resource-level permissions",
            )
            if task not in (self.ingest_task, self.detector_task):  # no collector sidecar to pull
                ack(
                    role,
                    f"IAM5[Resource::arn:{partition}:ecr:{region}:{account}:repository/"
                    f"{self.names.pull_through_prefix}/*]",
                    "The pull-through cache creates its repositories on the first pull, under this stack's own "
                    "prefix; the wildcard covers only that prefix",
                )
        ack(
            self.mesh["inference"].task_role,
            f"IAM5[Resource::arn:{partition}:bedrock:*:{account}:guardrail-profile/"
            f"{self.settings.guardrail_profile_id}]",
            "Cross-Region guardrail inference needs the profile in every destination Region, a list AWS extends; "
            "the account and the one profile id are fixed",
        )
        ack(
            self.detector_role,
            "IAM5[Resource::*]",
            "xray:GetTraceSummaries/BatchGetTraces have no resource-level permissions, and "
            "cloudwatch:PutMetricData takes no resource: it is limited to the stack's latency namespace by the "
            "cloudwatch:namespace condition",
        )
        ack(
            self.detector_role,
            f"IAM5[Resource::arn:{partition}:cloudwatch:{region}:{account}:alarm:{self.names.resource('latency-*')}]",
            "SetAlarmState on this stack's latency alarms only (one per latency budget, created by this stack "
            "under its own prefix)",
        )
        ack(
            self.ingest_run,
            f"IAM5[Resource::arn:{partition}:ecs:{region}:{account}:task-definition/{self.ingest_task.family}:*]",
            "RunTask on the ingest task definition's family (each deploy registers a new revision), only in this "
            "stack's cluster (ecs:cluster condition)",
        )
        # The singleton provider function every AwsCustomResource in a stack shares (CDK's fixed id).
        provider = self.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if provider is not None:
            ack(
                provider,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The CDK custom-resource provider that starts the ingest task at deploy writes its own logs with the "
                "AWS managed basic execution policy; it runs only during deployments",
            )
        if self.auth_secret is not None:
            ack(
                self.auth_secret,
                "SMG4",
                "The HS256 key is shared with the external sign-in service that issues customer tokens; rotating "
                "it needs that service to rotate in step (a dual-key window), which is outside this stack",
            )
        ack(
            self.alb_sg,
            "EC23",
            "The public WebSocket entry: TLS only on 443, behind AWS WAF (rate limit, reputation lists, optional "
            "allow-list); narrow it with -c ingressCidr or -c allowedCidrs",
        )
        ack(
            self.cache,
            "AEC6",
            "Valkey is reachable only from the orchestrator's security group inside isolated subnets, with TLS "
            "in transit and encryption at rest; an AUTH token or IAM user adds a credential the orchestrator "
            "does not carry yet",
        )
        if self.access_logs is not None:
            ack(
                self.access_logs,
                "S1",
                "This bucket holds the load balancer's access logs; logging access to the log bucket itself would "
                "need another bucket",
            )
        else:
            ack(
                self.alb,
                "ELB2",
                "Synthesised without a Region (offline checks): access logs need the Region's load-balancing "
                "account in the bucket policy, so they are turned on when the stack is deployed with one",
            )

    # ---- compute -------------------------------------------------------------------

    def _cluster(self) -> None:
        exec_config = None
        self.exec_log_group: logs.LogGroup | None = None
        if self.settings.ecs_exec:
            self.exec_log_group = self._log_group("ExecSessions")
            # Sessions are logged to a group of their own: the task roles may write there only.
            exec_config = ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=self.exec_log_group,
                    cloud_watch_encryption_enabled=False,
                ),
            )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            default_cloud_map_namespace=ecs.CloudMapNamespaceOptions(
                name=self.names.service_namespace,
                type=servicediscovery.NamespaceType.DNS_PRIVATE,
                use_for_service_connect=True,
                vpc=self.vpc,
            ),
            execute_command_configuration=exec_config,
        )
        # The ADOT image comes from ECR Public through a pull-through cache rule, so tasks
        # pull it from private ECR over the VPC endpoints (ECR Public has no VPC endpoint).
        ecr.CfnPullThroughCacheRule(
            self,
            "EcrPublicCache",
            ecr_repository_prefix=self.names.pull_through_prefix,
            upstream_registry_url="public.ecr.aws",
        )
        self.adot_image = (
            f"{self.account}.dkr.ecr.{self.region}.{self.url_suffix}/{self.names.pull_through_prefix}/"
            f"aws-observability/aws-otel-collector:{self.settings.adot_image_tag}"
        )

    def _services(self) -> None:
        alb_sg = self.alb_sg = self._closed_sg("AlbSg", "MangaAssist public WebSocket entry (HTTPS only)")
        alb_sg.add_ingress_rule(
            ec2.Peer.ipv4(self.settings.ingress_cidr), ec2.Port.tcp(443), "WebSocket clients, TLS only"
        )
        orchestrator = self.mesh["orchestrator"]
        orchestrator.security_group.add_ingress_rule(
            alb_sg, ec2.Port.tcp(orchestrator.spec.port), "WebSocket from the load balancer only"
        )
        alb_sg.add_egress_rule(orchestrator.security_group, ec2.Port.tcp(orchestrator.spec.port), "to the orchestrator")

        # Internal services first, so their Service Connect names exist before the client.
        for name in ("intent", "retrieval", "inference", "orchestrator"):
            self._service(self.mesh[name])
        self._ingest_task()

        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=self.vpc,
            internet_facing=True,
            security_group=alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # WebSockets stay open between queries: a long idle timeout, not the default 60 s.
            idle_timeout=cdk.Duration.seconds(300),
            drop_invalid_header_fields=True,
        )
        # Access logs: the bucket policy names the Region's load-balancing account, so they are
        # on whenever the Region is known at synth (``cdk deploy`` with credentials sets it).
        self.access_logs: s3.Bucket | None = None
        if not cdk.Token.is_unresolved(self.region):
            self.access_logs = s3.Bucket(
                self,
                "AlbAccessLogs",
                encryption=s3.BucketEncryption.S3_MANAGED,  # the only kind ALB writes to
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(self.settings.log_retention_days))],
                removal_policy=cdk.RemovalPolicy.DESTROY,
            )
            self.alb.log_access_logs(self.access_logs, prefix="alb")
        # HTTPS only: no plain-HTTP listener at all (sign-in tokens travel as ?token=).
        listener = self.alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            open=False,
            certificates=[acm.Certificate.from_certificate_arn(self, "Cert", self.settings.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        )
        assert orchestrator.service is not None
        listener.add_targets(
            "Orchestrator",
            port=orchestrator.spec.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[
                orchestrator.service.load_balancer_target(
                    container_name="orchestrator", container_port=orchestrator.spec.port
                )
            ],
            # Liveness, not readiness: a downstream's trouble degrades answers but must never
            # make the ALB drain every orchestrator task (and drop every WebSocket). /healthz
            # (readiness, per downstream) stays for people and dashboards.
            health_check=elbv2.HealthCheck(
                path=LIVENESS_PATH,
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(10),
                timeout=cdk.Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
            deregistration_delay=cdk.Duration.seconds(STOP_TIMEOUT_S),
        )
        # The operators' routes (breakers, pools, in-flight work) are never routed from the
        # internet; read them from inside the VPC (ECS Exec) instead.
        listener.add_action(
            "NoAdminFromTheInternet",
            priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(list(PRIVATE_PATHS))],
            action=elbv2.ListenerAction.fixed_response(
                404, content_type="application/json", message_body='{"error": "not found"}'
            ),
        )
        self._waf()
        self._scale_orchestrator_on_websocket_work()
        cdk.CfnOutput(
            self,
            "WebSocketUrl",
            value=f"wss://{self.alb.load_balancer_dns_name}/ws",
            description="The load balancer's name: point your certificate's DNS name at it "
            "(CNAME / alias) and clients at wss://<that name>/ws",
        )
        cdk.CfnOutput(self, "SessionsTable", value=self.sessions.table_name)
        cdk.CfnOutput(self, "OrdersTable", value=self.orders.table_name)
        if self.auth_secret is not None:
            cdk.CfnOutput(
                self,
                "AuthSecretArn",
                value=self.auth_secret.secret_arn,
                description="HS256 key your sign-in service signs customer tokens with "
                f"(iss {self.auth_issuer}, aud {self.auth_audience})",
            )
        cdk.CfnOutput(self, "CollectionEndpoint", value=self.collection.attr_collection_endpoint)
        private = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids
        cdk.CfnOutput(
            self,
            "IngestCommand",
            description="Load (or reload) the k-NN index: run once after the first deploy and after catalog changes",
            value=cdk.Fn.join(
                "",
                [
                    "aws ecs run-task --launch-type FARGATE --cluster ",
                    self.cluster.cluster_name,
                    " --task-definition ",
                    self.ingest_task.task_definition_arn,
                    " --network-configuration awsvpcConfiguration={subnets=[",
                    cdk.Fn.join(",", private),
                    "],securityGroups=[",
                    self.ingest_sg.security_group_id,
                    "],assignPublicIp=DISABLED}",
                ],
            ),
        )
        cdk.CfnOutput(self, "CacheEndpoint", value=self.cache.attr_primary_end_point_address)

    def _waf(self) -> None:
        """AWS WAF on the load balancer: a per-IP rate limit, the admin routes blocked, AWS's
        IP-reputation and known-bad-input rule groups, and an optional allow-list."""
        rules: list[wafv2.CfnWebACL.RuleProperty] = []

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=self.names.resource(name), sampled_requests_enabled=True
            )

        def block(name: str, statement: wafv2.CfnWebACL.StatementProperty) -> None:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=name,
                    priority=len(rules),
                    statement=statement,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    visibility_config=visibility(name),
                )
            )

        if self.settings.allowed_cidrs:
            sets = []
            for version, cidrs in (
                ("IPV4", [c for c in self.settings.allowed_cidrs if ":" not in c]),
                ("IPV6", [c for c in self.settings.allowed_cidrs if ":" in c]),
            ):
                if cidrs:
                    ip_set = wafv2.CfnIPSet(
                        self,
                        f"AllowList{version.title()}",
                        scope="REGIONAL",
                        ip_address_version=version,
                        addresses=cidrs,
                        name=self.names.resource(f"allow-{version.lower()}"),
                    )
                    sets.append(
                        wafv2.CfnWebACL.StatementProperty(
                            ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                                arn=ip_set.attr_arn
                            )
                        )
                    )
            listed = (
                sets[0]
                if len(sets) == 1
                else wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=sets)
                )
            )
            block(
                "NotOnTheAllowList",
                wafv2.CfnWebACL.StatementProperty(not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=listed)),
            )
        block(
            "RatePerIp",
            wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=self.settings.waf_rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                )
            ),
        )
        block(
            "AdminRoutes",
            wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="STARTS_WITH",
                    search_string="/admin",
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE"),
                        wafv2.CfnWebACL.TextTransformationProperty(priority=1, type="LOWERCASE"),
                    ],
                )
            ),
        )
        for group in ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"):
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=len(rules),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    visibility_config=visibility(group),
                )
            )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            name=self.names.resource("edge"),
            rules=rules,
            visibility_config=visibility("edge"),
            description="MangaAssist edge: rate limit per IP, no admin routes, AWS bad-input and reputation lists",
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclOnAlb", resource_arn=self.alb.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )

    def _scale_orchestrator_on_websocket_work(self) -> None:
        """Track answers in flight and open connections per task (the orchestrator's gauges,
        exported through the sidecar as EMF): ALB request counts miss WebSocket work, since one
        upgrade request carries a whole conversation."""
        scaling = self._scaling["orchestrator"]
        for sid, metric, target in (
            ("AnswersInFlightPerTask", "mangaassist.websocket.inflight", 20),
            ("ConnectionsPerTask", "mangaassist.websocket.connections", 1000),
        ):
            scaling.scale_to_track_custom_metric(
                sid,
                metric=cloudwatch.Metric(
                    namespace=self.names.metrics_namespace,
                    metric_name=metric,
                    statistic="Average",
                    period=cdk.Duration.minutes(1),
                    dimensions_map={"service.name": "orchestrator"},
                ),
                target_value=target,
                scale_in_cooldown=cdk.Duration.seconds(300),
                scale_out_cooldown=cdk.Duration.seconds(60),
            )

    def _service(self, mesh: MeshService) -> None:
        spec = mesh.spec
        task = self._fargate_task(f"{spec.name.title()}Task", spec.cpu, spec.memory_mib, mesh.task_role)
        log_group = self._log_group(f"{spec.name.title()}Logs")
        prefix = f"MANGAASSIST_{spec.name.upper()}_"
        environment = {
            f"{prefix}HOST": "0.0.0.0",
            f"{prefix}PORT": str(spec.port),
            f"{prefix}LOG_LEVEL": "INFO",
            "OTEL_SERVICE_NAME": spec.name,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=mangaassist,deployment.environment=aws",
            "OTEL_PROPAGATORS": "tracecontext,xray",
            # Metrics for the awsemf exporter: delta temporality, and base-2 exponential
            # histograms (the only kind it turns into CloudWatch percentiles), once a minute.
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "base2_exponential_bucket_histogram",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            "AWS_REGION": self.region,
        }
        environment.update(self._service_environment(spec))
        image = _image(spec.name)
        if spec.grpc:
            probe = ["CMD", "python", "/app/healthprobe.py", "grpc", f"127.0.0.1:{spec.port}"]
        else:
            # Liveness: 200 while the process can serve, whatever the downstreams' state.
            probe = ["CMD", "python", "/app/healthprobe.py", "http", f"http://127.0.0.1:{spec.port}{LIVENESS_PATH}"]
        app = task.add_container(
            spec.name,
            image=image,
            essential=True,
            environment=environment,
            port_mappings=[
                ecs.PortMapping(
                    container_port=spec.port,
                    name=spec.name,
                    app_protocol=ecs.AppProtocol.grpc if spec.grpc else ecs.AppProtocol.http,
                )
            ],
            logging=ecs.LogDriver.aws_logs(stream_prefix=spec.name, log_group=log_group),
            health_check=ecs.HealthCheck(
                command=probe,
                interval=cdk.Duration.seconds(10),
                timeout=cdk.Duration.seconds(3),
                retries=3,
                start_period=cdk.Duration.seconds(60),
            ),
            stop_timeout=cdk.Duration.seconds(STOP_TIMEOUT_S),
            secrets=self._service_secrets(spec),
        )
        collector = task.add_container(
            "adot-collector",
            image=ecs.ContainerImage.from_registry(self.adot_image),
            essential=False,
            memory_reservation_mib=128,
            environment={"AOT_CONFIG_CONTENT": self.collector_config(), "AWS_REGION": self.region},
            logging=ecs.LogDriver.aws_logs(stream_prefix="adot", log_group=log_group),
            health_check=ecs.HealthCheck(
                command=["CMD", "/healthcheck"],
                interval=cdk.Duration.seconds(10),
                timeout=cdk.Duration.seconds(3),
                retries=3,
                start_period=cdk.Duration.seconds(10),
            ),
        )
        app.add_container_dependencies(
            ecs.ContainerDependency(container=collector, condition=ecs.ContainerDependencyCondition.START)
        )
        # The execution role pulls the sidecar through the pull-through cache (first pull imports it).
        task.obtain_execution_role().add_to_principal_policy(
            iam.PolicyStatement(
                sid="PullAdotThroughCache",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchImportUpstreamImage",
                    "ecr:CreateRepository",
                ],
                resources=[
                    self.format_arn(
                        service="ecr", resource="repository", resource_name=f"{self.names.pull_through_prefix}/*"
                    )
                ],
            )
        )

        if spec.grpc:
            connect = ecs.ServiceConnectProps(
                services=[
                    ecs.ServiceConnectService(
                        port_mapping_name=spec.name,
                        discovery_name=spec.name,
                        dns_name=spec.name,
                        port=spec.port,
                    )
                ]
            )
        else:
            connect = ecs.ServiceConnectProps()
        service = ecs.FargateService(
            self,
            f"{spec.name.title()}Service",
            cluster=self.cluster,
            task_definition=task,
            desired_count=spec.min_tasks,
            security_groups=[mesh.security_group],
            vpc_subnets=self.private_subnets,
            assign_public_ip=False,
            service_connect_configuration=connect,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=cdk.Duration.seconds(90) if not spec.grpc else None,
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_execute_command=self.settings.ecs_exec,
        )
        mesh.service = service

        scaling = service.auto_scale_task_count(min_capacity=spec.min_tasks, max_capacity=spec.max_tasks)
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=60,
            scale_in_cooldown=cdk.Duration.seconds(120),
            scale_out_cooldown=cdk.Duration.seconds(30),
        )
        if spec.grpc:
            # Request count per task as Service Connect's proxies report it (gRPC requests).
            scaling.scale_to_track_custom_metric(
                "RequestsPerTask",
                metric=cloudwatch.Metric(
                    namespace="AWS/ECS",
                    metric_name="RequestCountPerTarget",
                    statistic="Sum",
                    period=cdk.Duration.minutes(1),
                    dimensions_map={
                        "ClusterName": self.cluster.cluster_name,
                        "ServiceName": service.service_name,
                        "TargetDiscoveryName": spec.name,
                    },
                ),
                target_value=3000,
                scale_in_cooldown=cdk.Duration.seconds(120),
                scale_out_cooldown=cdk.Duration.seconds(30),
            )
        self._scaling[spec.name] = scaling
        if not spec.grpc:
            for name in ("intent", "retrieval", "inference"):
                downstream = self.mesh[name].service
                assert downstream is not None
                service.node.add_dependency(downstream)

    def _ingest_task(self) -> None:
        """A task definition (no service) that creates and bulk-loads the OpenSearch index, then exits.

        The retrieval image (it carries the catalog's passage embeddings), the ingest CLI as
        its command, the same OpenSearch settings as the service, and its own role: the only
        principal allowed to create, delete or bulk-load the index.
        """
        spec = self.mesh["retrieval"].spec
        self.ingest_task = self._fargate_task("IngestTask", spec.cpu, spec.memory_mib, self.ingest_role)
        log_group = self._log_group("IngestLogs")
        self.ingest_task.add_container(
            "ingest",
            image=_image("retrieval"),
            command=["python", "-m", "mangaassist.retrieval.ingest", "--opensearch"],
            essential=True,
            environment=self._opensearch_environment(),
            logging=ecs.LogDriver.aws_logs(stream_prefix="ingest", log_group=log_group),
        )

    def _alarm(self, construct_id: str, **props: typing.Any) -> None:
        """One of the stack's alarms (``self.alarms``, wired to the alarm topic when there is
        one): it fires above its threshold; no data is not a breach."""
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                **props,
            )
        )

    def _closed_sg(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        """A security group with no outbound rule: it only receives (endpoints, the cache, the ALB)."""
        return ec2.SecurityGroup(self, construct_id, vpc=self.vpc, allow_all_outbound=False, description=description)

    def _task_identity(self, name: str, network: str, role: str) -> tuple[ec2.SecurityGroup, iam.Role]:
        """A task's security group (``<name>Sg``, all outbound) and role (``<name>TaskRole``,
        granted only what that task calls); ``network`` and ``role`` describe them."""
        return (
            ec2.SecurityGroup(self, f"{name}Sg", vpc=self.vpc, allow_all_outbound=True, description=network),
            iam.Role(
                self,
                f"{name}TaskRole",
                assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                description=f"MangaAssist {role}",
            ),
        )

    def _log_group(self, construct_id: str, **props: typing.Any) -> logs.LogGroup:
        """A log group kept for the configured retention and removed with the stack."""
        return logs.LogGroup(
            self,
            construct_id,
            retention=RETENTION[self.settings.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
            **props,
        )

    def _fargate_task(self, construct_id: str, cpu: int, memory_mib: int, role: iam.IRole) -> ecs.FargateTaskDefinition:
        """A Linux x86-64 Fargate task definition (the images are built for linux/amd64)."""
        return ecs.FargateTaskDefinition(
            self,
            construct_id,
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX
            ),
        )

    def _opensearch_environment(self) -> dict[str, str]:
        """Retrieval's OpenSearch store settings (the service and the ingest task share them)."""
        return {
            "MANGAASSIST_RETRIEVAL_STORE": "opensearch",
            "MANGAASSIST_RETRIEVAL_OPENSEARCH_ENDPOINT": self.collection.attr_collection_endpoint,
            "MANGAASSIST_RETRIEVAL_OPENSEARCH_INDEX": INDEX_NAME,
            "MANGAASSIST_RETRIEVAL_OPENSEARCH_SERVICE": "aoss",
            "MANGAASSIST_RETRIEVAL_OPENSEARCH_AUTH": "sigv4",
            # SigV4's credential scope: the collection's region (explicit, though AWS_REGION is the default).
            "MANGAASSIST_RETRIEVAL_AWS_REGION": self.region,
        }

    def collector_config(self) -> str:
        """The collector config as the sidecar gets it (``AOT_CONFIG_CONTENT``).

        Comment lines are dropped (they only cost environment-variable bytes), the region
        placeholder is resolved by CloudFormation to the stack's region, and the metrics
        namespace and log group placeholders to this stack's names.
        """
        lines = [
            line
            for line in self.settings.collector_config_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        text = "\n".join(lines).replace(REGION_PLACEHOLDER, self.region)
        text = text.replace(NAMESPACE_PLACEHOLDER, self.names.metrics_namespace)
        return text.replace(LOG_GROUP_PLACEHOLDER, self.names.metrics_log_group) + "\n"

    def _service_secrets(self, spec: ServiceSpec) -> dict[str, ecs.Secret] | None:
        """Secrets injected at task start (read by the execution role, never in the template)."""
        if spec.name == "orchestrator" and self.auth_secret is not None:
            return {"MANGAASSIST_ORCHESTRATOR_AUTH_SECRET": ecs.Secret.from_secrets_manager(self.auth_secret)}
        return None

    @property
    def auth_issuer(self) -> str:
        return self.settings.auth_issuer or self.settings.stack_name

    @property
    def auth_audience(self) -> str:
        return self.settings.auth_audience or "mangaassist-chat"

    def _auth_environment(self) -> dict[str, str]:
        """Sign-in: who issues tokens, for whom, where their keys are; anonymous use off by default."""
        env = {
            "MANGAASSIST_ORCHESTRATOR_AUTH_ISSUER": self.auth_issuer,
            "MANGAASSIST_ORCHESTRATOR_AUTH_AUDIENCE": self.auth_audience,
            "MANGAASSIST_ORCHESTRATOR_ALLOW_ANONYMOUS": "true" if self.settings.allow_anonymous else "false",
            # The page is served over HTTPS only: the anonymous cookie never travels in clear.
            "MANGAASSIST_ORCHESTRATOR_ANONYMOUS_COOKIE_SECURE": "true",
        }
        if self.settings.jwks_url:
            env["MANGAASSIST_ORCHESTRATOR_AUTH_JWKS_URL"] = self.settings.jwks_url
        return env

    def _service_environment(self, spec: ServiceSpec) -> dict[str, str]:
        """Each service's own settings: where its downstreams and data live."""
        if spec.name == "orchestrator":
            targets = {
                f"MANGAASSIST_ORCHESTRATOR_{n.upper()}_TARGET": f"{n}:{self.mesh[n].spec.port}"
                for n in ("intent", "retrieval", "inference")
            }
            return {
                **targets,
                "MANGAASSIST_ORCHESTRATOR_SESSION_BACKEND": "dynamodb",
                "MANGAASSIST_ORCHESTRATOR_AWS_REGION": self.region,
                "MANGAASSIST_ORCHESTRATOR_SESSIONS_TABLE": self.sessions.table_name,
                "MANGAASSIST_ORCHESTRATOR_ORDERS_TABLE": self.orders.table_name,
                "MANGAASSIST_ORCHESTRATOR_REDIS_URL": f"rediss://{self.cache.attr_primary_end_point_address}:6379/0",
                **self._auth_environment(),
            }
        if spec.name == "inference":
            return {
                "MANGAASSIST_INFERENCE_HAIKU_MODEL_ID": self.settings.haiku_model_id,
                "MANGAASSIST_INFERENCE_SONNET_MODEL_ID": self.settings.sonnet_model_id,
                "MANGAASSIST_INFERENCE_GUARDRAIL_ID": self.guardrail_id,
                "MANGAASSIST_INFERENCE_GUARDRAIL_VERSION": self.guardrail_version,
            }
        if spec.name == "retrieval":
            return self._opensearch_environment()
        return {}


def _image(target: str) -> ecs.ContainerImage:
    """One target of deploy/Dockerfile, built from the repository root for linux/amd64."""
    return ecs.ContainerImage.from_asset(
        str(REPO_ROOT),
        file="deploy/Dockerfile",
        target=target,
        exclude=ASSET_EXCLUDES,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def _camel(name: str) -> str:
    """``manga-assist-request`` → ``MangaAssistRequest`` (construct ids)."""
    return "".join(part.title() for part in name.split("-"))
