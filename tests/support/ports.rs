//! Free TCP ports on 127.0.0.1.

use std::net::{SocketAddr, TcpListener};

/// A port on 127.0.0.1 that was free a moment ago.
///
/// The kernel picks it (bind to port 0), so concurrent test processes rarely
/// collide; there is still a window between this call and the server binding
/// it, which is why the server helpers retry their first start on a new port
/// when the address turns out to be taken.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}
