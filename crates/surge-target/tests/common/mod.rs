//! A small HTTP client for the integration tests, on hyper-util's pooled client.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use surge_target::{CapacityPlan, Listening};

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.to_str().ok()?.parse().ok()
    }
}

/// A client bound to one server.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Api {
            client,
            base: base.to_owned(),
        }
    }

    pub fn http2(base: &str) -> Api {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Api {
            client,
            base: base.to_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        region: Option<&str>,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(region) = region {
            request = request.header("x-surge-region", region);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .header("content-type", "application/json")
            .body(Full::new(body.into()))
            .expect("request builds");
        let response = tokio::time::timeout(Duration::from_secs(15), self.client.request(request))
            .await
            .expect("answer within 15 s")
            .expect("request succeeds");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body reads").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None, Bytes::new()).await
    }

    pub async fn request_code(&self, region: &str, number: &str) -> Reply {
        let body = format!("{{\"number\":\"{number}\"}}");
        self.call(
            Method::POST,
            "/v1/verification/code",
            Some(region),
            None,
            body,
        )
        .await
    }

    pub async fn verify(&self, region: &str, session: &str, code: &str) -> Reply {
        let body = format!("{{\"session_id\":\"{session}\",\"code\":\"{code}\"}}");
        self.call(
            Method::PUT,
            "/v1/verification/code",
            Some(region),
            None,
            body,
        )
        .await
    }

    pub async fn register(&self, region: &str, session: &str) -> Reply {
        let body = format!("{{\"session_id\":\"{session}\"}}");
        self.call(Method::POST, "/v1/accounts", Some(region), None, body)
            .await
    }

    pub async fn discover(&self, region: &str, token: &str, hashes: &[String]) -> Reply {
        let body = serde_json::json!({ "hashes": hashes }).to_string();
        self.call(
            Method::POST,
            "/v1/discovery",
            Some(region),
            Some(token),
            body,
        )
        .await
    }

    /// Request code, verify, register; returns (account id, token).
    pub async fn signup(&self, region: &str, number: &str, secret: &str) -> (u64, String) {
        let reply = self.request_code(region, number).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        let session = reply.json()["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let code = surge_target::verification_code(secret, number);
        let reply = self.verify(region, &session, &code).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let reply = self.register(region, &session).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let json = reply.json();
        let id = json["account_id"].as_u64().expect("account id");
        let token = json["token"].as_str().expect("token").to_owned();
        (id, token)
    }

    /// The found hashes of a discovery answer.
    pub async fn found(&self, region: &str, token: &str, hashes: &[String]) -> Vec<String> {
        let reply = self.discover(region, token, hashes).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["found"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A plan with three regions in three data centres; `service` is every endpoint's `{ median, p99 }`
/// and `extra_us` lines are added to the `us` data centre.
pub fn plan_text(service: &str, us_slots: u32, extra_us: &str, top: &str) -> String {
    format!(
        r#"
default_region = "americas"
{top}

[regions.americas]
sms_rate_per_s = 100000
sms_burst = 1000
[regions.europe]
sms_rate_per_s = 100000
sms_burst = 1000
[regions.asia]
sms_rate_per_s = 100000
sms_burst = 1000

[service]
request_code = {service}
verify_code = {service}
register = {service}
keys = {service}
discovery = {service}

[dcs.us]
regions = ["americas"]
slots = {us_slots}
{extra_us}

[dcs.eu]
regions = ["europe"]
slots = 64

[dcs.ap]
regions = ["asia"]
slots = 64
"#
    )
}

pub fn plan(text: &str) -> CapacityPlan {
    match CapacityPlan::from_toml_str(text, "test-plan.toml") {
        Ok(plan) => plan,
        Err(error) => panic!("test plan invalid: {error}"),
    }
}

/// A fast plan: no service time anywhere.
pub fn fast_plan(top: &str) -> CapacityPlan {
    plan(&plan_text(
        "{ median = \"0ms\", p99 = \"0ms\" }",
        64,
        "",
        top,
    ))
}

pub async fn start(plan: CapacityPlan) -> (Listening, Api) {
    let target = surge_target::serve("127.0.0.1:0".parse().expect("addr"), plan)
        .await
        .expect("server starts");
    let api = Api::new(&target.url());
    (target, api)
}

/// E.164 test number `i` in the US test range.
pub fn number(i: u64) -> String {
    format!("+1555{i:07}")
}

/// Parses Prometheus text: every non-comment line is `name{labels} value` or `name value`.
/// Returns (name, labels, value) triples, or the first bad line.
pub fn parse_prometheus(text: &str) -> Result<Vec<(String, String, f64)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| line.to_owned())?;
        let value: f64 = value.parse().map_err(|_| line.to_owned())?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest.strip_suffix('}').ok_or_else(|| line.to_owned())?;
                for pair in labels.split(',') {
                    let (k, v) = pair.split_once('=').ok_or_else(|| line.to_owned())?;
                    let ok_key =
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    let ok_value = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                    if !(ok_key && ok_value) {
                        return Err(line.to_owned());
                    }
                }
                (name, labels)
            }
            None => (series, ""),
        };
        let ok_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
        if !ok_name {
            return Err(line.to_owned());
        }
        out.push((name.to_owned(), labels.to_owned(), value));
    }
    Ok(out)
}

/// The value of one series in parsed metrics (labels written exactly as exposed).
pub fn series(metrics: &[(String, String, f64)], name: &str, labels: &str) -> Option<f64> {
    metrics
        .iter()
        .find(|(n, l, _)| n == name && l == labels)
        .map(|(_, _, v)| *v)
}
