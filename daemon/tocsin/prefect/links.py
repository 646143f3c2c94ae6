"""What `[[forward]]` and `[[subscribe]]` share: one background task per link, started from
the config, all restarted when the tables change on reload, and their status by name."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from ..server.component import Component
from .wire import Credentials, link_credentials

if TYPE_CHECKING:
    from ..config import Config, PrefectLinkConfig
    from ..server.daemon import Daemon


class Link(Protocol):
    link: PrefectLinkConfig
    task: asyncio.Task[None] | None

    async def run(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class LinksComponent(Component):
    """Subclasses set `name` (also the config table) and `make` one link."""

    def __init__(self) -> None:
        self.daemon: Daemon | None = None
        self.links: list[Any] = []
        self._config: list[PrefectLinkConfig] = []

    def make(self, daemon: Daemon, link: PrefectLinkConfig, credentials: Credentials) -> Link:
        raise NotImplementedError

    def _tables(self, config: Config) -> list[PrefectLinkConfig]:
        return list(getattr(config, self.name))

    def check(self, config: Config) -> None:
        for i, link in enumerate(self._tables(config)):
            link_credentials(link, f"{self.name}[{i}]")

    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.check(daemon.config)
        self._begin(daemon.config)

    def _begin(self, config: Config) -> None:
        assert self.daemon is not None
        self._config = self._tables(config)
        for i, table in enumerate(self._config):
            link = self.make(self.daemon, table, link_credentials(table, f"{self.name}[{i}]"))
            link.task = asyncio.create_task(link.run(), name=f"{self.name} {table.key}")
            self.links.append(link)

    async def reload(self, config: Config) -> None:
        if self._tables(config) != self._config:
            await self.stop()
            self._begin(config)

    async def stop(self) -> None:
        """Cancel every link; what a link had not confirmed is done again next time."""
        tasks = [link.task for link in self.links if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.links.clear()

    def status(self) -> dict[str, Any]:
        return {link.link.key: link.status() for link in self.links}
