"""``python -m mangaassist.bedrock_emulator``: serve until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from mangaassist.bedrock_emulator.app import EmulatorSettings, build_app

logger = logging.getLogger("mangaassist.bedrock_emulator")


async def main() -> None:
    settings = EmulatorSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s bedrock-emulator %(levelname)s %(message)s")
    app, _ = build_app(settings)
    # In-flight answers get a short grace on SIGTERM (a slow-first-token fault may sleep long).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    logger.info("listening on %s:%s (latency profile %s)", settings.host, settings.port, settings.latency_profile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    logger.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
