//! The few etcd v3 calls a twin needs (lease grant, keepalive, revoke; a put-if-absent
//! transaction; a read), over etcd's JSON gRPC gateway (`POST /v3/...`, served by etcd 3.4 on
//! its client port) with the hyper client the daemon already links.
//!
//! Why not the `etcd-client` crate: it brings tonic and a second prost and needs `protoc` to
//! build, for five unary calls; the gateway speaks the same API as JSON. Plain `http://` only:
//! etcd is expected on loopback or a trusted management network (see the README).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use std::time::Duration;

/// What went wrong talking to etcd. Causes are in the message, not a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd endpoint `{0}` must look like http://HOST:PORT (TLS to etcd is not supported)")]
    BadEndpoint(String),
    #[error("cannot reach etcd at {endpoint}: {error}")]
    Unreachable { endpoint: String, error: String },
    #[error("etcd at {endpoint} did not answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("etcd at {endpoint} refused {path}: HTTP {status}: {message}")]
    Refused {
        endpoint: String,
        path: &'static str,
        status: u16,
        message: String,
    },
    #[error("etcd at {endpoint} answered {path} with something unexpected: {message}")]
    Unexpected {
        endpoint: String,
        path: &'static str,
        message: String,
    },
}

/// A lease etcd granted: its id and the TTL it really granted (etcd may raise a short one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub ttl: Duration,
}

/// Who holds the leader key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    pub lease: i64,
}

/// An etcd cluster's client endpoints, tried in turn; the last one that answered goes first.
#[derive(Debug, Clone)]
pub struct Etcd {
    /// `host:port` of each endpoint.
    endpoints: Vec<String>,
    preferred: usize,
    timeout: Duration,
}

impl Etcd {
    /// `urls` like `http://127.0.0.1:2379`; each request gives up after `timeout`.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Etcd, EtcdError> {
        let endpoints = urls
            .iter()
            .map(|u| authority(u).ok_or_else(|| EtcdError::BadEndpoint(u.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(EtcdError::BadEndpoint(String::new()));
        }
        Ok(Etcd {
            endpoints,
            preferred: 0,
            timeout,
        })
    }

    pub async fn grant(&mut self, ttl: Duration) -> Result<Lease, EtcdError> {
        let path = "/v3/lease/grant";
        let v = self.call(path, json!({ "TTL": ttl.as_secs() })).await?;
        let id = int(&v["ID"]).filter(|id| *id != 0);
        match (id, int(&v["TTL"])) {
            (Some(id), Some(ttl)) if ttl > 0 => Ok(Lease {
                id,
                ttl: Duration::from_secs(ttl.unsigned_abs()),
            }),
            _ => Err(self.unexpected(path, &v)),
        }
    }

    /// Renews the lease; the TTL it now has, zero when the lease is gone (expired, revoked).
    pub async fn keepalive(&mut self, lease: i64) -> Result<Duration, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        // The gateway leaves out zero values: no TTL is TTL 0, the lease is gone.
        let ttl = int(&v["result"]["TTL"]).unwrap_or(0).max(0);
        Ok(Duration::from_secs(ttl.unsigned_abs()))
    }

    /// Ends the lease (and with it the leader key it carries). A lease already gone is fine.
    pub async fn revoke(&mut self, lease: i64) -> Result<(), EtcdError> {
        match self
            .call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
        {
            Ok(_) => Ok(()),
            Err(EtcdError::Refused { message, .. }) if message.contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts `key = value` with `lease` if the key does not exist. `Ok(None)`: this lease now
    /// holds the key; `Ok(Some(holder))`: someone else held it.
    pub async fn claim(
        &mut self,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<Option<Holder>, EtcdError> {
        let path = "/v3/kv/txn";
        let k = B64.encode(key);
        let v = self
            .call(
                path,
                json!({
                    "compare": [{
                        "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"
                    }],
                    "success": [{ "request_put": {
                        "key": k, "value": B64.encode(value), "lease": lease.to_string()
                    }}],
                    "failure": [{ "request_range": { "key": k } }],
                }),
            )
            .await?;
        if v["succeeded"].as_bool() == Some(true) {
            return Ok(None);
        }
        let kv = &v["responses"][0]["response_range"]["kvs"][0];
        // The holder may have gone between the compare and the read: nobody, try again.
        Ok(Some(holder(kv).unwrap_or(Holder {
            name: String::new(),
            lease: 0,
        })))
    }

    /// Who holds `key`, if anyone.
    pub async fn holder(&mut self, key: &str) -> Result<Option<Holder>, EtcdError> {
        let v = self
            .call("/v3/kv/range", json!({ "key": B64.encode(key) }))
            .await?;
        Ok(holder(&v["kvs"][0]))
    }

    /// Posts `body` to `path` on the preferred endpoint, then the others.
    async fn call(&mut self, path: &'static str, body: Value) -> Result<Value, EtcdError> {
        let mut last = None;
        for i in 0..self.endpoints.len() {
            let at = (self.preferred + i) % self.endpoints.len();
            match self.post(at, path, &body).await {
                Ok(v) => {
                    self.preferred = at;
                    return Ok(v);
                }
                // etcd itself answered: another member would say the same.
                Err(e @ EtcdError::Refused { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| EtcdError::BadEndpoint(String::new())))
    }

    async fn post(&self, at: usize, path: &'static str, body: &Value) -> Result<Value, EtcdError> {
        let endpoint = self.endpoints[at].clone();
        match tokio::time::timeout(self.timeout, post(&endpoint, path, body)).await {
            Ok(result) => result,
            Err(_) => Err(EtcdError::Timeout {
                endpoint,
                timeout: self.timeout,
            }),
        }
    }

    fn unexpected(&self, path: &'static str, v: &Value) -> EtcdError {
        EtcdError::Unexpected {
            endpoint: self.endpoints[self.preferred].clone(),
            path,
            message: v.to_string(),
        }
    }
}

/// One request on a fresh connection: a twin makes a few per second, and a connection that
/// died with an etcd member must not be reused.
async fn post(endpoint: &str, path: &'static str, body: &Value) -> Result<Value, EtcdError> {
    let unreachable = |error: String| EtcdError::Unreachable {
        endpoint: endpoint.to_string(),
        error,
    };
    let stream = tokio::net::TcpStream::connect(endpoint)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
    let driver = tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, endpoint)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| unreachable(e.to_string()))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| EtcdError::Unexpected {
            endpoint: endpoint.to_string(),
            path,
            message: format!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)),
        })?;
        if status != 200 || value.get("error").is_some() {
            return Err(EtcdError::Refused {
                endpoint: endpoint.to_string(),
                path,
                status,
                message: value["message"]
                    .as_str()
                    .or(value["error"].as_str())
                    .unwrap_or("")
                    .to_string(),
            });
        }
        Ok(value)
    }
    .await;
    driver.abort();
    result
}

/// `http://host:port[/]` to `host:port`.
fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    (!host.is_empty() && !rest.contains('/') && port.parse::<u16>().is_ok())
        .then(|| rest.to_string())
}

/// The gateway writes 64-bit integers as strings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn holder(kv: &Value) -> Option<Holder> {
    let value = B64.decode(kv["value"].as_str()?).ok()?;
    Some(Holder {
        name: String::from_utf8_lossy(&value).into_owned(),
        lease: int(&kv["lease"]).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_plain_http_host_and_port() {
        assert_eq!(
            authority("http://127.0.0.1:2379").as_deref(),
            Some("127.0.0.1:2379")
        );
        assert_eq!(
            authority("http://etcd-a:2379/").as_deref(),
            Some("etcd-a:2379")
        );
        for bad in [
            "https://x:2379",
            "http://x",
            "127.0.0.1:2379",
            "http://x:2379/v3",
        ] {
            assert_eq!(authority(bad), None, "{bad}");
        }
    }

    #[test]
    fn gateway_values_are_read_as_it_writes_them() {
        assert_eq!(
            int(&json!("7587899181484716805")),
            Some(7587899181484716805)
        );
        assert_eq!(int(&json!(2)), Some(2));
        assert_eq!(int(&Value::Null), None);
        let kv = json!({ "value": B64.encode("host-a"), "lease": "12" });
        assert_eq!(
            holder(&kv),
            Some(Holder {
                name: "host-a".into(),
                lease: 12
            })
        );
        assert_eq!(holder(&Value::Null), None);
    }
}
