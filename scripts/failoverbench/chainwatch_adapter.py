"""failoverbench adapter for chainwatch (https://github.com/failoverbench/failoverbench).

Copy this file into failoverbench/adapters/, register the class in
failoverbench/adapters/__init__.py (REGISTRY), and run with
scripts/failoverbench/chainwatch.yaml as the system (README.md beside this
file says how).

Two modes (`params.mode`):

* `ask` (default): every call runs `chainwatch ask --json` as a new user
  would: a config with one OpenAI-dialect endpoint at the wall's URL, the
  two models, chain [primary, fallback], everything else at its default.
  Each primary model gets a fresh state file for the run, so a scenario
  starts from nothing while S15's twenty calls (same primary) share one
  state, as one user's shell would.
* `serve`: calls go to `chainwatch serve` (model `chain`), started once per
  primary model with the same config and state; the request is the
  caller's own (streamed or not, per the scenario). Needs a chainwatch with
  `serve`.

The adapter reports what the caller would see; it never looks at the wall.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
import time

from .base import Adapter, CallResult, parse_error_body


def _config(wall_base: str, models: list[str], serve: bool = False) -> str:
    chain = ", ".join(json.dumps(m) for m in models)
    out = [f"chain = [{chain}]", ""]
    if serve:
        # The wall should see the calls' attempts: at most one first probe
        # per model (within 10 s of the start), then none for an hour.
        out += ["[probe]", 'interval = "1h"', ""]
    out += ["[[endpoint]]", 'name = "wall"', f"base_url = {json.dumps(wall_base + '/v1')}",
            'dialect = "openai"', ""]
    for m in dict.fromkeys(models):
        out += ["[[model]]", f"name = {json.dumps(m)}", f"id = {json.dumps(m)}", 'endpoint = "wall"', ""]
    return "\n".join(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChainwatchAdapter(Adapter):
    name = "chainwatch"
    capabilities = {"fallback": True, "streaming": True}

    async def start(self) -> None:
        p = self.params
        self.bin = p.get("bin") or shutil.which("chainwatch") or "chainwatch"
        self.mode = p.get("mode", "ask")
        # serve mode: ask for buffered streams (the answer collected whole
        # before its first byte, so a break restarts cleanly).
        self.buffer = str(p.get("buffer", False)).lower() in ("1", "true", "yes", "on")
        self.dir = tempfile.mkdtemp(prefix="fb-chainwatch-")
        self.servers: dict[str, tuple[asyncio.subprocess.Process, str]] = {}
        self.client = None
        if self.mode == "serve":
            import httpx
            self.client = httpx.AsyncClient(timeout=None)

    def _files(self, primary: str, fallback: str | None) -> tuple[str, str]:
        models = [primary] + ([fallback] if fallback else [])
        key = "-".join(models)
        config = os.path.join(self.dir, f"{key}.toml")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write(_config(self.wall_base, models, serve=self.mode == "serve"))
        return config, os.path.join(self.dir, f"{key}.state.json")

    async def complete(self, primary, fallback, stream, messages, deadline_s) -> CallResult:
        if self.mode == "serve":
            return await self._serve(primary, fallback, stream, messages, deadline_s)
        return await self._ask(primary, fallback, messages, deadline_s)

    # ------------------------------------------------------------------ ask
    async def _ask(self, primary, fallback, messages, deadline_s) -> CallResult:
        config, state = self._files(primary, fallback)
        prompt = "\n\n".join(m["content"] for m in messages if m.get("role") == "user")
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            self.bin, "--config", config, "--state", state, "ask", "--json", "-",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(prompt.encode()), timeout=deadline_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return CallResult(ok=False, hang=True, error=f"no result within {deadline_s:g}s",
                              elapsed_s=round(time.monotonic() - t0, 3))
        elapsed = round(time.monotonic() - t0, 3)
        try:
            doc = json.loads(out)
        except ValueError:
            return CallResult(ok=False, error=f"exit {proc.returncode}: {err.decode(errors='replace')[:300]}",
                              elapsed_s=elapsed)
        if doc.get("ok"):
            ttft = doc.get("ttft_ms")
            return CallResult(ok=True, content=doc.get("text", ""), reported_model=doc.get("model"),
                              usage=doc.get("usage"), elapsed_s=elapsed,
                              ttft_s=None if ttft is None else ttft / 1000)
        refusal = doc.get("refusal") or {}
        last = next((a for a in reversed(doc.get("attempts") or []) if a.get("outcome") == "failed"), {})
        return CallResult(ok=False, error=doc.get("error"), elapsed_s=elapsed,
                          error_code=doc.get("outcome"),
                          status=refusal.get("http_status") or last.get("http_status"))

    # ---------------------------------------------------------------- serve
    async def _server(self, primary, fallback) -> str:
        key = f"{primary}|{fallback}"
        if key in self.servers:
            return self.servers[key][1]
        for proc, _ in self.servers.values():  # one scenario at a time
            proc.terminate()
            await proc.wait()
        self.servers.clear()
        config, state = self._files(primary, fallback)
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            self.bin, "--config", config, "--state", state, "serve", "--listen", f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if (await self.client.get(base + "/v1/models", timeout=0.5)).status_code == 200:
                    break
            except Exception:
                pass
            await asyncio.sleep(0.1)
        else:
            proc.terminate()
            raise RuntimeError(f"chainwatch serve did not answer on port {port} within 10 s")
        self.servers[key] = (proc, base)
        return base

    async def _serve(self, primary, fallback, stream, messages, deadline_s) -> CallResult:
        base = await self._server(primary, fallback)
        body = {"model": "chain", "messages": messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        t0 = time.monotonic()
        r = CallResult(ok=False)
        try:
            async with asyncio.timeout(deadline_s):
                headers = {"x-chainwatch-buffer": "1"} if self.buffer else {}
                async with self.client.stream("POST", base + "/v1/chat/completions", json=body,
                                              headers=headers) as resp:
                    if resp.status_code != 200:
                        msg, code = parse_error_body(await resp.aread())
                        r.error, r.error_code, r.status = msg, code, resp.status_code
                    elif not stream:
                        doc = json.loads(await resp.aread())
                        r.ok = True
                        r.content = doc["choices"][0]["message"].get("content") or ""
                        r.reported_model, r.usage = doc.get("model"), doc.get("usage")
                    else:
                        parts, finished = [], False
                        async for line in resp.aiter_lines():
                            if not line.startswith("data:"):
                                continue
                            data = line[5:].strip()
                            if data == "[DONE]":
                                r.done_seen = True
                                break
                            try:
                                ev = json.loads(data)
                            except ValueError:
                                r.bad_chunks += 1
                                continue
                            if ev.get("error"):
                                r.error = str(ev["error"])[:300]
                                break
                            r.chunks += 1
                            r.reported_model = ev.get("model") or r.reported_model
                            r.usage = ev.get("usage") or r.usage
                            for ch in ev.get("choices") or []:
                                if r.ttft_s is None and (ch.get("delta") or {}).get("content"):
                                    r.ttft_s = round(time.monotonic() - t0, 3)
                                parts.append((ch.get("delta") or {}).get("content") or "")
                                finished = finished or bool(ch.get("finish_reason"))
                        r.content = "".join(parts)
                        r.ok = r.error is None and finished
                        if not r.ok and r.error is None:
                            r.error = "stream ended without a finish reason"
        except TimeoutError:
            r.hang, r.error = True, f"no result within {deadline_s:g}s"
        except Exception as exc:
            r.error = f"{type(exc).__name__}: {exc}"[:300]
        r.elapsed_s = round(time.monotonic() - t0, 3)
        return r

    async def close(self) -> None:
        for proc, _ in self.servers.values():
            proc.terminate()
            await proc.wait()
        if self.client is not None:
            await self.client.aclose()
        shutil.rmtree(self.dir, ignore_errors=True)
