//! A port for a server that runs as its own process (the real binary, a private
//! PostgreSQL), which cannot be handed a bound listener. Probing port 0 and releasing it
//! races: the kernel hands the same port out again as the source port of any outgoing
//! connection, and parallel tests make many. So the port comes from *below* the kernel's
//! ephemeral range, which only explicit binds use, and is checked free.

pub fn free_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_001));
    // Spread over the range by process and time, so parallel tests rarely start on the same
    // port; the bind check settles the rest.
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let span = u64::from(high - low);
    for i in 0..span {
        let port = low + ((seed.wrapping_mul(2_654_435_761) + i * 7919) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}
