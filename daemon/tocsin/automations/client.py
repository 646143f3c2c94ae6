"""`from tocsin.automations import Automation`: automations from Python, as in Prefect's docs.

    Automation(name="woodchonk", trigger=EventTrigger(expect={"animal.walked"}, ...),
               actions=[CancelFlowRun()]).create()
    Automation.read(name="woodchonk").disable()

Prefect 3's methods (create, read, update, delete, enable, disable) with their async `a*`
forms. The trigger and actions may be Prefect-style objects (`tocsin.events.schemas.*`,
`tocsin.events.actions`) or plain dicts: they are sent as JSON and the daemon validates them.
Talks to the daemon with the standard-library client, so importing it stays cheap.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from ..client.sync import SyncClient
from ..errors import NotFound, TocsinError
from . import model


class Automation(model.Automation):
    """An automation you can create, read, update, pause, resume and delete."""

    @staticmethod
    def _client(socket_path: str | Path | None) -> SyncClient:
        return SyncClient(socket_path)

    @classmethod
    def _from(cls, data: dict[str, Any]) -> Automation:
        return msgspec.convert(data, cls)

    def _body(self) -> dict[str, Any]:
        body = msgspec.to_builtins(self, enc_hook=_as_json)
        for key in ("id", "created", "updated"):
            body.pop(key, None)
        return body

    def _refresh(self, data: dict[str, Any]) -> Automation:
        fresh = self._from(data)
        for field in self.__struct_fields__:
            setattr(self, field, getattr(fresh, field))
        return self

    def create(self, socket_path: str | Path | None = None) -> Automation:
        """Store it in the daemon; fills in `id`, `created` and the trigger ids."""
        with self._client(socket_path) as client:
            return self._refresh(client.automations.create(self._body()))

    @classmethod
    def read(cls, id: str | None = None, name: str | None = None,
             socket_path: str | Path | None = None) -> Automation:
        if (id is None) == (name is None):
            raise TocsinError("Automation.read takes exactly one of id= or name=")
        with cls._client(socket_path) as client:
            try:
                found = client.automations.get(id) if id else client.automations.by_name(name or "")
                return cls._from(found)
            except NotFound:
                raise TocsinError(f"no automation with {'id' if id else 'name'} "
                                  f"{id or name!r}") from None

    def update(self, socket_path: str | Path | None = None) -> Automation:
        """Replace the stored definition (trigger ids are new: window state starts over)."""
        with self._client(socket_path) as client:
            return self._refresh(client.automations.replace(self._id(), self._body()))

    def delete(self, socket_path: str | Path | None = None) -> bool:
        with self._client(socket_path) as client:
            client.automations.delete(self._id())
        return True

    def disable(self, socket_path: str | Path | None = None) -> bool:
        self._set_enabled(False, socket_path)
        return True

    def enable(self, socket_path: str | Path | None = None) -> bool:
        self._set_enabled(True, socket_path)
        return True

    def pause(self, socket_path: str | Path | None = None) -> Automation:
        return self._set_enabled(False, socket_path)

    def resume(self, socket_path: str | Path | None = None) -> Automation:
        return self._set_enabled(True, socket_path)

    def _set_enabled(self, enabled: bool, socket_path: str | Path | None) -> Automation:
        with self._client(socket_path) as client:
            client.automations.set_enabled(self._id(), enabled)
        self.enabled = enabled
        return self

    # Prefect's async forms: the same calls, run in a thread so an event loop is not blocked.
    async def acreate(self, socket_path: str | Path | None = None) -> Automation:
        return await asyncio.to_thread(self.create, socket_path)

    @classmethod
    async def aread(cls, id: str | None = None, name: str | None = None,
                    socket_path: str | Path | None = None) -> Automation:
        return await asyncio.to_thread(cls.read, id, name, socket_path)

    async def aupdate(self, socket_path: str | Path | None = None) -> Automation:
        return await asyncio.to_thread(self.update, socket_path)

    async def adelete(self, socket_path: str | Path | None = None) -> bool:
        return await asyncio.to_thread(self.delete, socket_path)

    async def aenable(self, socket_path: str | Path | None = None) -> bool:
        return await asyncio.to_thread(self.enable, socket_path)

    async def adisable(self, socket_path: str | Path | None = None) -> bool:
        return await asyncio.to_thread(self.disable, socket_path)

    def _id(self) -> str:
        if self.id is None:
            raise TocsinError("this automation has no id yet: call .create() first")
        return self.id


def _as_json(obj: Any) -> Any:
    """A trigger or action object (Prefect-style) as the JSON it stands for."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot send a {type(obj).__name__} to the daemon")
