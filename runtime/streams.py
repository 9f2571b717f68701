"""A connection's bindings (status subscriptions) and debug streams."""

from __future__ import annotations

from typing import Any

from protocol import (
    ErrorCode,
    Request,
    encode_debug,
    encode_error,
    encode_meta,
    encode_success,
    notify_parts,
)
from runtime.auth import Principal
from runtime.limits import MAX_BINDINGS_PER_CONNECTION
from runtime.logs import DebugTap
from runtime.modules import ModuleHost
from runtime.security import Clearance

BindingKey = tuple[str, str, int, str]


class Binding:
    """A client's interest in one status of one module, addressed indirectly by name + index."""

    __slots__ = ("key", "module_id", "prefix", "session", "suffix")

    def __init__(self, session: Streams, bind_id: int, key: BindingKey, meta: bytes) -> None:
        self.session = session
        self.key = key
        self.module_id: str | None = None
        self.prefix, self.suffix = notify_parts(bind_id, meta)

    def deliver(self, value: bytes) -> None:
        self.session.send(self.prefix + value + self.suffix)


class Streams:
    """The bind / unbind / debug / ignore commands of a connection, and their release."""

    __slots__ = ()

    bindings: dict[BindingKey, Binding]
    debug_streams: dict[tuple[str, str, int], tuple[str, Any]]
    host: ModuleHost
    tap: DebugTap
    principal: Principal

    def send(self, frame: bytes) -> None:
        raise NotImplementedError

    def _bind(self, req: Request) -> None:
        if req.mod.startswith("_") and self.principal.clearance < Clearance.SUPPORT:
            msg = "attempted to access protected module"
            self.send(encode_error(req.id, ErrorCode.ACCESS_DENIED, msg, 401))
            return
        meta = encode_meta(req.sys, req.mod, req.index, req.name)
        key: BindingKey = (req.sys, req.mod, req.index, req.name)
        if key in self.bindings:
            self.send(encode_success(req.id, meta))
            return
        if len(self.bindings) >= MAX_BINDINGS_PER_CONNECTION:
            msg = f"too many bindings on this connection (limit {MAX_BINDINGS_PER_CONNECTION})"
            self.send(encode_error(req.id, ErrorCode.UNEXPECTED_FAILURE, msg, 503))
            return
        binding = Binding(self, req.id, key, meta)
        self.bindings[key] = binding
        self.send(encode_success(req.id, meta))
        self._attach(binding, self.host.resolve_id(req.sys, req.mod, req.index))

    def _attach(self, binding: Binding, module_id: str | None) -> None:
        """Point a binding at `module_id` (or nothing), sending the value it now shows."""
        store, name = self.host.store, binding.key[3]
        old = binding.module_id
        if old == module_id:
            return
        if old is not None:
            store.unsubscribe(old, name, binding)
        binding.module_id = module_id
        if module_id is not None:
            store.subscribe(module_id, name, binding)
            current = store.get(module_id, name)
            if current is not None:
                binding.deliver(current)
        elif old is not None:
            binding.deliver(b"null")

    def rebind_all(self) -> None:
        """Re-resolve every binding after systems or modules changed."""
        for key, binding in list(self.bindings.items()):
            self._attach(binding, self.host.resolve_id(key[0], key[1], key[2]))

    def _unbind(self, req: Request) -> None:
        binding = self.bindings.pop((req.sys, req.mod, req.index, req.name), None)
        if binding is not None and binding.module_id is not None:
            self.host.store.unsubscribe(binding.module_id, req.name, binding)
        self.send(encode_success(req.id))

    def _debug(self, req: Request) -> None:
        module_id = req.mod
        if module_id not in self.host.modules:
            msg = f"failed to attach debugger: could not find module {module_id}"
            self.send(encode_error(req.id, ErrorCode.MODULE_NOT_FOUND, msg, 404))
            return
        stream_key = (req.sys, module_id, req.index)
        if stream_key not in self.debug_streams:
            meta = encode_meta(req.sys, module_id, req.index, req.name)
            request_id = req.id

            def listener(level: str, message: str) -> None:
                self.send(encode_debug(request_id, module_id, level, message, meta))

            self.debug_streams[stream_key] = (module_id, listener)
            self.tap.add(module_id, listener)
        self.send(encode_success(req.id))

    def _ignore(self, req: Request) -> None:
        stream = self.debug_streams.pop((req.sys, req.mod, req.index), None)
        if stream is not None:
            self.tap.remove(*stream)
        self.send(encode_success(req.id))

    def release_streams(self) -> None:
        """Drop every binding and debug stream."""
        store = self.host.store
        for binding in self.bindings.values():
            if binding.module_id is not None:
                store.unsubscribe(binding.module_id, binding.key[3], binding)
        self.bindings.clear()
        for module_id, listener in self.debug_streams.values():
            self.tap.remove(module_id, listener)
        self.debug_streams.clear()
