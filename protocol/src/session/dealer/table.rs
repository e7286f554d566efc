//! The dealer's session table: pure state, no I/O, shared by every party's connection.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use rand_core::{CryptoRng, RngCore};

use crate::engine::{deal, SessionMasks};
use crate::material::MaterialMsg;
use crate::plan::Plan;
use crate::prg::{Prg, Seed};
use crate::share::Role;
use crate::wire::SessionId;

/// How many queries one role may fetch ahead of the other: a bound on what a party can
/// make the dealer hold in memory.
pub const MAX_AHEAD: usize = 4096;

/// Why the dealer refuses a request; the message goes to the party as it is.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct Refusal(pub String);

/// One dealer session.
struct Session {
    plan_hash: [u8; 32],
    masks: SessionMasks,
    /// Where each query's seeds come from: the session's own generator, split off at
    /// open, so that what is dealt does not depend on which role asks first.
    rng: Prg,
    client_joined: bool,
    /// Pieces not yet taken by both roles; `front` is the piece of query `base`.
    pieces: VecDeque<[Option<MaterialMsg>; 2]>,
    base: usize,
    /// Queries served so far, per role (server, client).
    served: [usize; 2],
}

/// Every open session, shared by the connection handlers.
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<SessionId, Session>>,
}

fn slot(role: Role) -> usize {
    match role {
        Role::Server => 0,
        Role::Client => 1,
    }
}

impl Sessions {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server opens a session for `plan`: a fresh id and a fresh mask seed from `rng`,
    /// which the caller sends to the server (and nobody else), and the session's generator
    /// for the material it deals.
    pub fn open(&self, plan: &Plan, rng: &mut (impl RngCore + CryptoRng)) -> (SessionId, Seed) {
        let seed = Seed::from_rng(rng);
        let masks = SessionMasks::expand(plan, seed);
        let dealing = Prg::new(Seed::from_rng(rng));
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let id = loop {
            let id = SessionId(Seed::from_rng(rng).0);
            if !table.contains_key(&id) {
                break id;
            }
        };
        table.insert(
            id,
            Session {
                plan_hash: plan.hash(),
                masks,
                rng: dealing,
                client_joined: false,
                pieces: VecDeque::new(),
                base: 0,
                served: [0, 0],
            },
        );
        (id, seed)
    }

    /// The client joins session `id`, presenting the hash of the plan it was given.
    pub fn join(&self, id: SessionId, plan_hash: [u8; 32]) -> Result<(), Refusal> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let s = table.get_mut(&id).ok_or_else(|| {
            Refusal(
                "no such session at this dealer: the server may use another dealer, \
                 or its session has closed"
                    .into(),
            )
        })?;
        if s.plan_hash != plan_hash {
            return Err(Refusal(
                "plan mismatch: the plan the client presents differs from the server's".into(),
            ));
        }
        if s.client_joined {
            return Err(Refusal(
                "a client has already joined this session; a session serves one client".into(),
            ));
        }
        s.client_joined = true;
        Ok(())
    }

    /// `role`'s share of its next query's material. Each piece is handed out once.
    pub fn fetch(&self, id: SessionId, role: Role) -> Result<MaterialMsg, Refusal> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let s = table
            .get_mut(&id)
            .ok_or_else(|| Refusal("the session has closed".into()))?;
        if role == Role::Client && !s.client_joined {
            return Err(Refusal("join the session before fetching material".into()));
        }
        let (me, other) = (slot(role), 1 - slot(role));
        let index = s.served[me];
        if index >= s.served[other] + MAX_AHEAD {
            return Err(Refusal(format!(
                "too far ahead of the other party ({MAX_AHEAD} queries)"
            )));
        }
        while s.base + s.pieces.len() <= index {
            let (server, client) = deal(&s.masks, &mut s.rng);
            s.pieces.push_back([Some(server), Some(client)]);
        }
        let piece = s.pieces[index - s.base][me]
            .take()
            .ok_or_else(|| Refusal("this material was already served".into()))?;
        s.served[me] += 1;
        while s
            .pieces
            .front()
            .is_some_and(|p| p[0].is_none() && p[1].is_none())
        {
            s.pieces.pop_front();
            s.base += 1;
        }
        Ok(piece)
    }

    /// Closes session `id`: its masks and unserved material are dropped, never resent.
    pub fn close(&self, id: SessionId) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.remove(&id);
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True if no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{dense_relu, expand_both};
    use crate::ring::FixedPoint;

    fn plan() -> Plan {
        dense_relu(3, 2, FixedPoint { f: 8, k: 24 })
    }

    /// True if the ReLU layer's AND triples of a server and a client piece reconstruct.
    fn pair(server: &MaterialMsg, client: &MaterialMsg) -> bool {
        let ((_, s), (_, c)) = expand_both(&plan(), server, client);
        s.triples.iter().zip(&c.triples).all(|(a, b)| {
            let u = a.u.xor(&b.u).unwrap();
            let v = a.v.xor(&b.v).unwrap();
            u.and(&v).unwrap() == a.w.xor(&b.w).unwrap()
        })
    }

    fn rng() -> Prg {
        Prg::new(Seed::random())
    }

    #[test]
    fn join_checks_the_plan_and_admits_one_client() {
        let s = Sessions::new();
        let (id, _) = s.open(&plan(), &mut rng());
        let mut other = plan();
        other.fixed.f = 9;
        let err = s.join(id, other.hash()).unwrap_err();
        assert!(err.0.contains("plan mismatch"), "{err}");
        s.join(id, plan().hash()).unwrap();
        let err = s.join(id, plan().hash()).unwrap_err();
        assert!(err.0.contains("already joined"), "{err}");
        assert!(s.join(SessionId([0; 16]), plan().hash()).is_err());
    }

    #[test]
    fn each_piece_goes_once_to_each_role_and_pieces_match() {
        let (s, mut rng) = (Sessions::new(), rng());
        let (id, _) = s.open(&plan(), &mut rng);
        assert!(s.fetch(id, Role::Client).is_err(), "fetch before join");
        s.join(id, plan().hash()).unwrap();
        let a = s.fetch(id, Role::Server).unwrap();
        let b = s.fetch(id, Role::Server).unwrap();
        assert_ne!(a.seed, b.seed, "the second query gets fresh material");
        let c = s.fetch(id, Role::Client).unwrap();
        assert!(
            pair(&a, &c),
            "the client's first piece pairs with the server's first"
        );
        assert!(!pair(&b, &c));
        let d = s.fetch(id, Role::Client).unwrap();
        assert_ne!(c.corrections, d.corrections, "each client piece is its own");
        assert_eq!(
            s.table.lock().unwrap()[&id].pieces.len(),
            0,
            "served pieces are dropped"
        );
        s.close(id);
        assert!(s.fetch(id, Role::Server).is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn a_party_cannot_run_unboundedly_ahead() {
        let (s, mut rng) = (Sessions::new(), rng());
        let (id, _) = s.open(&plan(), &mut rng);
        for _ in 0..MAX_AHEAD {
            s.fetch(id, Role::Server).unwrap();
        }
        assert!(s.fetch(id, Role::Server).is_err());
    }
}
