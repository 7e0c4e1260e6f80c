-- t/soak/soak.lua — wrk script for t/soak/run: GET a protected file with a
-- session cookie picked at random from $SOAK_COOKIES (one id per line);
-- counts 5xx and any other non-200 answer per thread, summed in done().
cookies = {}
for line in io.lines(os.getenv("SOAK_COOKIES")) do
    cookies[#cookies + 1] = line
end
s5xx = 0
non200 = 0
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

request = function()
    local c = cookies[math.random(#cookies)]
    return wrk.format("GET", "/protected/secret.txt",
                      { ["Cookie"] = "cis2_session=" .. c })
end

response = function(status, headers, body)
    if status >= 500 then
        s5xx = s5xx + 1
    elseif status ~= 200 then
        non200 = non200 + 1
    end
end

threads = {}
setup = function(t)
    table.insert(threads, t)
end

done = function(summary, latency, requests)
    local a, b = 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("s5xx")
        b = b + t:get("non200")
    end
    io.write(string.format("SOAK requests=%d errors_connect=%d errors_read=%d "
        .. "errors_write=%d errors_timeout=%d s5xx=%d non200=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.errors.connect, summary.errors.read,
        summary.errors.write, summary.errors.timeout, a, b,
        latency:percentile(50), latency:percentile(99)))
end
