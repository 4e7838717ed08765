// A real small model (a GGUF file) behind an OpenAI-compatible /v1/chat/completions on loopback,
// for one smoke round trip of `memberlake ask` (tests/integration/test_ask_real_model.py).
// A base model: it answers in text and never calls tools; the wire protocol and what memberlake
// sends are what the test checks, not the answer. Every request body is appended to BODIES.
// Usage: node server.mjs MODEL.gguf BODIES.jsonl   (prints "listening on PORT" when ready)
import fs from "node:fs";
import http from "node:http";
import { getLlama, LlamaCompletion } from "node-llama-cpp";

const [modelPath, bodiesPath] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 4096, threads: 1 });
const completion = new LlamaCompletion({ contextSequence: context.getSequence() });

function prompt(messages) {
  const turns = messages.map((m) => `${m.role}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`);
  return turns.join("\n") + "\nassistant:";
}

const server = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  fs.appendFileSync(bodiesPath, body.replace(/\n/g, " ") + "\n");
  if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
    res.writeHead(404, { "Content-Type": "application/json" });
    return res.end(JSON.stringify({ error: { message: "no such path" } }));
  }
  const request = JSON.parse(body);
  const text = prompt(request.messages);
  const content = (await completion.generateCompletion(text, { maxTokens: 24, temperature: 0, seed: 1 })).trim() || "(no text)";
  const usage = { prompt_tokens: model.tokenize(text).length, completion_tokens: model.tokenize(content).length };
  const base = { id: "chatcmpl-local", model: "gemma-3-270m" };
  if (request.stream) {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const event = (payload) => res.write(`data: ${JSON.stringify({ ...base, ...payload })}\n\n`);
    event({ choices: [{ index: 0, delta: { role: "assistant", content } }] });
    event({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    event({ choices: [], usage });
    return res.end("data: [DONE]\n\n");
  }
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ ...base, choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage }));
});
server.listen(0, "127.0.0.1", () => console.log(`listening on ${server.address().port}`));
