"""The commands the README shows "in another terminal" after `make up` work as written.

The test reads them from README.md (so a command edited there is the command tested) and runs
each one in a shell from the repository root against the shared local cluster. The cluster's
ports are ephemeral: the only change to a command is where it points (``127.0.0.1:<port>`` of
``make up`` becomes the test cluster's address; the chat client gets the cluster's ``--url``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mangaassist.devtools.cluster import DEFAULT_PORTS, Cluster

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Then, in another terminal:\n\n```bash\n(.*?)```", text, flags=re.S)
    assert block, "README.md lost its 'Then, in another terminal:' commands"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def pointed_at(command: str, cluster: Cluster) -> str:
    for name in ("intent", "retrieval", "inference", "orchestrator"):
        command = command.replace(f"127.0.0.1:{DEFAULT_PORTS[name]}", cluster.address(name))
    if command.startswith("make chat"):
        return f"{command} URL={cluster.ws_url}"
    if "-m mangaassist.orchestrator.client" in command:
        return f"{command} --url {cluster.ws_url}"
    return command


def test_every_command_after_make_up_works(cluster: Cluster) -> None:
    commands = readme_commands()
    assert any(c.startswith(".tools/grpcurl") for c in commands) and any(c.startswith("make chat") for c in commands)
    outputs = {}
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", pointed_at(command, cluster)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        outputs[command] = done.stdout
    for command, out in outputs.items():
        if command.endswith(" list"):
            assert "mangaassist.intent.v1.IntentService" in out and "grpc.health.v1.Health" in out
        elif command.endswith("IntentService/Classify"):
            assert '"intent": "return_refund"' in out
        elif "249-1234567-7654321" in command:
            assert "249-1234567-7654321" in out, out  # the signed-in owner is answered about the order
        else:
            assert "timings_ms" in out, out  # a streamed answer reached its done frame
