-- wrk: the same non-streaming Messages call on every request.
wrk.method = "POST"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello, world"}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "bench-key"
wrk.headers["anthropic-version"] = "2023-06-01"
