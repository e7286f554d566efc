//! Asking a server what it hosts (`veil-client models`): `List` instead of a hello, the
//! server's `Catalog` back, and the connection ends. Nothing private is sent either way.

use crate::channel::Channel;
use crate::session::{Dial, Party, SessionError};
use crate::wire::{ModelInfo, ToClient, ToServer};

/// Dials `server` and asks what it hosts: each model's name, input shape, outputs, kind
/// of answer, backends, material source and card.
pub fn list<D: Dial>(dial: &mut D, server: &str) -> Result<Vec<ModelInfo>, SessionError> {
    let dialed = dial.dial(server)?;
    let mut ch = Channel::new(dialed.transport);
    ch.send(&ToServer::List.encode())?;
    match ToClient::decode(&ch.recv()?)? {
        ToClient::Catalog { models } => Ok(models),
        ToClient::Refused {
            bad_request,
            reason,
        } => Err(super::refusal(bad_request, reason)),
        _ => Err(SessionError::out_of_turn(Party::Server)),
    }
}
