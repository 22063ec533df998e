//! The JSON frames of `/v1/ws`, one object per text frame.
//!
//! | direction | frame |
//! |---|---|
//! | client -> server | `{"type":"send","id":"<msg id>","to":"<E.164>","body":<any JSON>}` |
//! | server -> sender | `{"type":"ack","id":"<msg id>"}` or `{"type":"error","id":"<msg id>","code":"unknown_recipient"}` |
//! | server -> recipient | `{"type":"message","id":"<msg id>","from":"<sender E.164>","body":<body, verbatim>}` |
//! | client -> server | `{"type":"ping"}`, answered `{"type":"pong"}` |
//!
//! Anything else (not JSON, not an object, an unknown `type`, a `send` without `id`, `to` or
//! `body`) is malformed: the server closes with 1008.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A frame from the client.
#[derive(Debug)]
pub(crate) enum ClientFrame<'a> {
    /// A message to another account (a missing `body` is forwarded as `null`).
    Send {
        id: Cow<'a, str>,
        to: Cow<'a, str>,
        body: &'a RawValue,
    },
    /// An application heartbeat.
    Ping,
}

/// The fields of every client frame. `serde_json`'s `RawValue` cannot sit inside an internally
/// tagged enum, hence this flat form.
#[derive(Deserialize)]
struct Flat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

const NULL: &str = "null";

/// A frame from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ServerFrame<'a> {
    Ack {
        id: &'a str,
    },
    Error {
        id: &'a str,
        code: &'a str,
    },
    Message {
        id: &'a str,
        from: &'a str,
        body: &'a RawValue,
    },
    Pong,
}

impl ClientFrame<'_> {
    /// Parses one text frame; `None` when it is malformed.
    pub fn parse(text: &str) -> Option<ClientFrame<'_>> {
        let flat: Flat<'_> = serde_json::from_str(text).ok()?;
        match flat.kind.as_ref() {
            "ping" => Some(ClientFrame::Ping),
            "send" => {
                let null: &RawValue = serde_json::from_str(NULL).ok()?;
                Some(ClientFrame::Send {
                    id: flat.id?,
                    to: flat.to?,
                    body: flat.body.unwrap_or(null),
                })
            }
            _ => None,
        }
    }
}

impl ServerFrame<'_> {
    /// The frame's JSON text.
    pub fn render(&self) -> String {
        // Serialising these plain structs into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_parses_and_the_body_stays_verbatim() {
        let text =
            r#"{"type":"send","id":"m\"1","to":"+15550001234","body":{"sent_at":17, "x":[1,2]}}"#;
        let Some(ClientFrame::Send { id, to, body }) = ClientFrame::parse(text) else {
            panic!("a send frame");
        };
        assert_eq!((id.as_ref(), to.as_ref()), ("m\"1", "+15550001234"));
        let message = ServerFrame::Message {
            id: &id,
            from: "+15550009999",
            body,
        };
        assert_eq!(
            message.render(),
            r#"{"type":"message","id":"m\"1","from":"+15550009999","body":{"sent_at":17, "x":[1,2]}}"#
        );
        assert_eq!(
            ServerFrame::Ack { id: "a" }.render(),
            r#"{"type":"ack","id":"a"}"#
        );
        assert_eq!(ServerFrame::Pong.render(), r#"{"type":"pong"}"#);
    }

    #[test]
    fn malformed_frames_are_none() {
        for text in [
            "",
            "not json",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"send","id":"1"}"#,
            r#"{"id":"1"}"#,
        ] {
            assert!(ClientFrame::parse(text).is_none(), "{text}");
        }
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Some(ClientFrame::Ping)
        ));
    }

    proptest::proptest! {
        /// Any text at all parses to a frame or to `None`; a send's body renders back verbatim.
        #[test]
        fn any_text_parses_without_panicking(text in "\\PC{0,64}") {
            let _ = ClientFrame::parse(&text);
        }

        #[test]
        fn any_send_round_trips(id in "\\PC{0,16}", to in "\\PC{0,16}", n in proptest::num::i64::ANY) {
            let text = serde_json::json!({"type":"send","id":id,"to":to,"body":{"n":n}}).to_string();
            let Some(ClientFrame::Send { id: got_id, to: got_to, body }) = ClientFrame::parse(&text) else {
                panic!("a send frame: {text}");
            };
            proptest::prop_assert_eq!(got_id.as_ref(), id.as_str());
            proptest::prop_assert_eq!(got_to.as_ref(), to.as_str());
            let message = ServerFrame::Message { id: &got_id, from: "+15550000001", body }.render();
            let back: serde_json::Value = serde_json::from_str(&message).unwrap_or_default();
            proptest::prop_assert_eq!(&back["id"], &serde_json::json!(id));
            proptest::prop_assert_eq!(&back["body"]["n"], &serde_json::json!(n));
        }
    }
}
