"""A scripted OpenAI-compatible Chat Completions server on loopback, for the tests of
`memberlake ask` and POST /api/ask (issue 14).

Each POST /v1/chat/completions takes the next step of the script the test set:
  {"content": "text"}                       an answer
  {"tool_calls": [("run_query", {...}), ...]}  tool calls; arguments a dict (sent as JSON) or raw text
  {"status": 401 | 429 | 500, "retry_after": "1"}  an error answer (JSON error body)
  {"hang": seconds}                         accept, read the request, answer nothing for that long
  a callable(request_json) -> step          a step that depends on what memberlake sent
The answer is streamed (server-sent events, tool-call arguments split into pieces) when the
request asks for "stream": true, else one JSON body. With the script used up, it answers
{"content": "done"}. Every request body is recorded (raw bytes) in `requests`, and in the
module-wide ALL_BODIES so a test can check every body any test sent.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ALL_BODIES = []
KEY_ENV = "MEMBERLAKE_TEST_AI_KEY"  # the variable the tests' [ai] sections name for the key


@pytest.fixture(scope="module")
def fake():
    """One scripted model per test module."""
    server = FakeLlm()
    yield server
    server.stop()


def ai_section(fake, **settings):
    """A server config's [ai] section asking `fake`, with short timeouts; `settings` add or
    override keys (max_retries=0, daily_tokens_per_caller=50, ...)."""
    values = {"base_url": fake.url, "model": "fake/model", "api_key_env": KEY_ENV, "timeout_seconds": 2,
              "question_timeout_seconds": 30, **settings}
    return "\n[ai]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


class FakeLlm:
    def __init__(self):
        self.steps = []
        self.requests = []  # dicts: body (bytes), json, headers, time
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                try:
                    request = json.loads(body)
                except ValueError:
                    request = None
                with fake.lock:
                    fake.requests.append({"body": body, "json": request, "headers": dict(self.headers),
                                          "time": time.monotonic(), "path": self.path})
                    ALL_BODIES.append(body)
                    step = fake.steps.pop(0) if fake.steps else {"content": "done"}
                if callable(step):
                    step = step(request)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self.send_json(404, {"error": {"message": "no such path " + self.path}})
                if "hang" in step:
                    time.sleep(step["hang"])
                    self.close_connection = True
                    return
                if "status" in step:
                    headers = {"Retry-After": step["retry_after"]} if "retry_after" in step else {}
                    return self.send_json(step["status"], {"error": {"message": step.get("message", "scripted failure"),
                                                                     "code": step["status"]}}, headers)
                usage = {"prompt_tokens": len(body) // 4, "completion_tokens": 12}
                if request and request.get("stream"):
                    return self.stream(step, usage)
                return self.send_json(200, completion(step, usage))

            def send_json(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def stream(self, step, usage):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

                def event(payload):
                    self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                    self.wfile.flush()

                self.wfile.write(b": OPENROUTER PROCESSING\n\n")  # a comment, as OpenRouter sends
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake/model"}
                if "tool_calls" in step:
                    for index, (name, arguments) in enumerate(step["tool_calls"]):
                        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
                        event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                            {"index": index, "id": f"call_{index}", "type": "function",
                             "function": {"name": name, "arguments": ""}}]}}]})
                        for start in range(0, len(text), 7):  # arguments in small pieces
                            event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                                {"index": index, "function": {"arguments": text[start:start + 7]}}]}}]})
                    finish = "tool_calls"
                else:
                    words = step["content"].split(" ")
                    for i, word in enumerate(words):
                        event({**base, "choices": [{"index": 0, "delta": {
                            "content": word + (" " if i < len(words) - 1 else "")}}]})
                    finish = "stop"
                event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                event({**base, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, *steps):
        with self.lock:
            self.steps = list(steps)
            self.requests = []

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def completion(step, usage):
    message = {"role": "assistant", "content": step.get("content")}
    if "tool_calls" in step:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(step["tool_calls"])]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": "fake/model",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if "tool_calls" in step else "stop"}],
            "usage": usage}


def tool_results(request):
    """The tool messages' contents (parsed) of a request memberlake sent, in order."""
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]
