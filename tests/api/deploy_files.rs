//! docker-compose.yaml, Dockerfile and nginx/ must agree with the binary (ports,
//! variable names, health checks), so they cannot drift silently: the static half
//! of the deployment tests (scripts/test-docker runs them for real). Over 300
//! lines: one short check per rule, over one set of files.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::helpers::{help, port_of, read};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Compose's interpolation for the forms the file uses: `${NAME:-default}` with
/// NAME unset, and `${NAME:?why}` (required: `<NAME>` stands for the value). Any
/// other form is refused, so none slips through unchecked.
pub fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        match (inner.split_once(":-"), inner.split_once(":?")) {
            (Some((_, default)), _) => out.push_str(default),
            (None, Some((name, _))) => out.push_str(&format!("<{name}>")),
            _ => panic!("${{{inner}}} needs a :-default or a :?reason"),
        }
        rest = &rest[end + 1..];
    }
    out + rest
}

pub fn compose() -> Value {
    serde_yaml::from_str(&interpolate(&read("docker-compose.yaml"))).unwrap()
}

pub fn env_of(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        other => panic!("environment value {other:?}"),
                    };
                    (k.as_str().unwrap().to_string(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn get<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    &env.iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} is not set"))
        .1
}

#[test]
fn the_compose_file_is_valid_compose_spec() {
    let text = interpolate(&read("docker-compose.yaml"));
    let parsed: compose_spec::Compose = serde_yaml::from_str(&text).expect("compose-spec");
    parsed
        .validate_all()
        .expect("networks, volumes, configs and secrets are defined");
    // and the validator does refuse a broken file
    let broken = text.replacen("healthcheck:", "healthchek:", 1);
    assert!(serde_yaml::from_str::<compose_spec::Compose>(&broken).is_err());
}

#[test]
fn every_variable_given_to_authd_is_one_the_binary_knows() {
    let help = help();
    let compose = compose();
    let mut names: BTreeSet<String> = env_of(&compose["services"]["auth"])
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for line in read("Dockerfile").lines() {
        for word in line.split_whitespace() {
            if let Some((name, _)) = word.split_once('=') {
                if name.starts_with("AUTHD_") {
                    names.insert(name.to_string());
                }
            }
        }
    }
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("[env: {name}")),
            "authd --help does not know {name}"
        );
    }
}

#[test]
fn ports_agree_between_dockerfile_compose_and_nginx() {
    let dockerfile = read("Dockerfile");
    let compose = compose();
    let auth = env_of(&compose["services"]["auth"]);
    let nginx = env_of(&compose["services"]["nginx"]);
    let listen = port_of(get(&auth, "AUTHD_LISTEN"));
    let expose: u16 = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE")
        .trim()
        .parse()
        .unwrap();
    let image_listen = dockerfile
        .lines()
        .find_map(|l| l.trim().strip_prefix("ENV AUTHD_LISTEN=").map(port_of))
        .expect("ENV AUTHD_LISTEN");
    let upstream = get(&nginx, "AUTHD_UPSTREAM_SERVERS");
    let upstream_port = port_of(upstream.split_whitespace().nth(1).unwrap());
    assert!(
        upstream.starts_with("server auth:"),
        "the upstream names the auth service: {upstream}"
    );
    let healthcheck = compose["services"]["auth"]["healthcheck"]["test"][3]
        .as_str()
        .unwrap();
    let image_health = dockerfile
        .lines()
        .find(|l| l.contains("authd\", \"healthcheck\""))
        .expect("HEALTHCHECK");
    assert_eq!(
        [expose, image_listen, upstream_port, port_of(healthcheck)],
        [listen; 4]
    );
    assert!(image_health.contains(&format!("http://127.0.0.1:{listen}")));
    // nginx listens where compose publishes it
    let published = compose["services"]["nginx"]["ports"][0].as_str().unwrap();
    let gateway = get(&nginx, "AUTHD_GATEWAY_PORT");
    assert_eq!(published.rsplit(':').next().unwrap(), gateway);
}

#[test]
fn health_checks_call_the_real_subcommand() {
    let compose = compose();
    let test: Vec<&str> = compose["services"]["auth"]["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&test[..3], ["CMD", "authd", "healthcheck"]);
    assert!(read("Dockerfile").contains("CMD [\"authd\", \"healthcheck\""));
    let out = crate::helpers::child_command(env!("CARGO_BIN_EXE_authd"))
        .args(["healthcheck", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("readyz"));
}

#[test]
fn nginx_templates_use_only_variables_that_both_renderers_set() {
    let compose = compose();
    let nginx_env: BTreeSet<String> = env_of(&compose["services"]["nginx"])
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let services_sh = read("scripts/lib/services.sh");
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(format!("{ROOT}/nginx/templates")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("${") {
            let end = rest[i..].find('}').unwrap() + i;
            used.insert(rest[i + 2..end].to_string());
            rest = &rest[end..];
        }
    }
    assert!(used.contains("AUTHD_UPSTREAM_SERVERS") && used.contains("AUTHD_GATEWAY_PORT"));
    for name in &used {
        assert!(
            name.starts_with("AUTHD_"),
            "the image renders only AUTHD_* ({name})"
        );
        assert!(
            nginx_env.contains(name),
            "compose does not set {name} for nginx"
        );
        assert!(
            services_sh.contains(&format!("${{{name}}}")),
            "scripts/lib/services.sh does not render {name}"
        );
    }
    assert_eq!(
        get(
            &env_of(&compose["services"]["nginx"]),
            "NGINX_ENVSUBST_FILTER"
        ),
        "^AUTHD_"
    );
}

#[test]
fn pool_sizes_times_replicas_stay_under_max_connections() {
    let compose = compose();
    let auth = env_of(&compose["services"]["auth"]);
    let pool: u64 = get(&auth, "AUTHD_DB_POOL_SIZE").parse().unwrap();
    let replicas = compose["services"]["auth"]["deploy"]["replicas"]
        .as_u64()
        .or_else(|| {
            compose["services"]["auth"]["deploy"]["replicas"]
                .as_str()
                .and_then(|s| s.parse().ok())
        })
        .unwrap();
    let command: Vec<&str> = compose["services"]["postgres"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let max: u64 = command
        .iter()
        .find_map(|a| a.strip_prefix("max_connections="))
        .expect("max_connections is set")
        .parse()
        .unwrap();
    // + 1 per replica for the relay's LISTEN connection
    assert!(
        replicas * (pool + 1) < max,
        "{replicas} x ({pool} + 1) >= {max}"
    );
}

/// The `authd_*` metric names a PromQL text uses (histogram suffixes stripped).
fn metric_names(promql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = promql;
    while let Some(start) = rest.find("authd_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(base.to_string());
        rest = &tail[end..];
    }
    names
}

/// The metrics authd exports, as README states them (Operations, and the mail
/// section); written out here rather than taken from the code under test.
const EXPORTED: &[&str] = &[
    "authd_http_requests_total",
    "authd_http_request_duration_seconds",
    "authd_hash_queue_depth",
    "authd_hash_wait_seconds",
    "authd_hash_duration_seconds",
    "authd_hash_refused_total",
    "authd_hash_engine_info",
    "authd_outbox_waiting",
    "authd_outbox_oldest_age_seconds",
    "authd_outbox_published_total",
    "authd_outbox_publish_errors_total",
    "authd_outbox_delivery_seconds",
    "authd_relay_batch_seconds",
    "authd_db_pool_connections",
    "authd_db_pool_acquire_seconds",
    "authd_build_info",
    "authd_mail_waiting",
    "authd_mail_sent_total",
    "authd_mail_failed_total",
    "authd_idempotency_lease_renewals_total",
    "authd_idempotency_waits_total",
];

#[test]
fn the_observability_profile_scrapes_every_replica_and_uses_only_real_metrics() {
    let compose = compose();
    let services = &compose["services"];
    for name in ["prometheus", "grafana"] {
        let profiles = services[name]["profiles"].as_sequence().unwrap();
        assert_eq!(
            profiles,
            &[Value::from("observability")],
            "{name} is opt-in"
        );
        for volume in services[name]["volumes"].as_sequence().unwrap() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            let path = format!("{ROOT}/{}", host.trim_start_matches("./"));
            assert!(
                std::path::Path::new(&path).exists(),
                "{name} mounts {host}, which is missing"
            );
        }
    }
    // Prometheus finds the replicas by the compose service's DNS name, on the port
    // authd listens on (where /metrics is served when no admin port is set).
    let prometheus: Value = serde_yaml::from_str(&read("observability/prometheus.yml")).unwrap();
    let sd = &prometheus["scrape_configs"][0]["dns_sd_configs"][0];
    assert_eq!(sd["names"][0], "auth");
    assert!(services["auth"].is_mapping());
    let env = env_of(&services["auth"]);
    assert_eq!(
        sd["port"].as_u64().unwrap() as u16,
        port_of(get(&env, "AUTHD_LISTEN"))
    );
    assert!(!env.iter().any(|(k, _)| k == "AUTHD_METRICS_LISTEN"));

    let dashboard: serde_json::Value =
        serde_json::from_str(&read("observability/grafana/dashboards/authd.json")).unwrap();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            used.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    let alerts: Value = serde_yaml::from_str(&read("observability/alerts.yml")).unwrap();
    for rule in alerts["groups"][0]["rules"].as_sequence().unwrap() {
        used.extend(metric_names(rule["expr"].as_str().unwrap()));
    }
    let readme = read("README.md");
    let exported: BTreeSet<String> = EXPORTED.iter().map(|s| s.to_string()).collect();
    assert!(exported.iter().all(|m| readme.contains(m.as_str())));
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "dashboard or alerts use metrics authd does not export: {unknown:?}"
    );
    for wanted in [
        "authd_http_requests_total",
        "authd_hash_queue_depth",
        "authd_outbox_oldest_age_seconds",
    ] {
        assert!(used.contains(wanted), "the dashboard shows {wanted}");
    }
    assert_eq!(
        metric_names("rate(authd_x_bucket[1m]) / authd_y_count"),
        BTreeSet::from(["authd_x".to_string(), "authd_y".to_string()])
    );
}
