//! The round clocks of CONTRACT.md, replayed without running a protocol: each layer's cost
//! formula moves them as its messages would, so the model counts rounds as a run does.

/// The two parties' round clocks. A message adds a round only when its sender's clock is
/// not already behind the receiver's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clocks {
    server: u64,
    client: u64,
}

impl Clocks {
    /// The deeper of the two clocks.
    pub fn depth(&self) -> u64 {
        self.server.max(self.client)
    }

    /// One message from the client to the server.
    pub fn client_to_server(&mut self) {
        self.server = self.server.max(self.client + 1);
    }

    /// One message from the server to the client.
    pub fn server_to_client(&mut self) {
        self.client = self.client.max(self.server + 1);
    }

    /// One message each way, sent at once.
    pub fn exchange(&mut self) {
        let before = *self;
        self.server = before.server.max(before.client + 1);
        self.client = before.client.max(before.server + 1);
    }
}
