//! ShareFetch (key 78, KIP-932): framed by hand once the protocol crate's framer lands.
