//! The settings as a command line gives them, checked.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    settings: Settings,
}

fn parse(args: &[&str]) -> Result<Config, String> {
    let mut argv = vec!["authd"];
    argv.extend_from_slice(args);
    Wrap::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .settings
        .validate()
}

#[test]
fn no_database_url_means_the_embedded_store() {
    let config = parse(&["--data-dir", "/tmp/x"]).unwrap();
    assert!(
        matches!(config.store, StoreConfig::Sqlite { path } if path.ends_with("authd.sqlite3"))
    );
    assert_eq!(config.hash, HashParams::OWASP);
    assert!(config.hash_pool.workers >= 1);
    assert_eq!(config.hash_pool.queue_bound, None);
    assert!(config
        .instance_id
        .ends_with(&format!("-{}", std::process::id())));
}

#[test]
fn a_postgres_url_selects_postgres() {
    let config = parse(&["--database-url", "postgres://u@h/db"]).unwrap();
    assert!(matches!(config.store, StoreConfig::Postgres { .. }));
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    assert!(parse(&["--database-url", "mysql://x"])
        .unwrap_err()
        .contains("postgres://"));
    assert!(parse(&["--argon2-iterations", "0"])
        .unwrap_err()
        .contains("argon2"));
    assert!(parse(&["--hash-workers", "0"]).is_err());
    assert!(parse(&["--listen", "nowhere"]).is_err());
    assert!(parse(&["--kafka-partitions", "0"]).is_err());
    assert!(parse(&["--instance-id", "two words"])
        .unwrap_err()
        .contains("AUTHD_INSTANCE_ID"));
}

#[test]
fn the_relay_runs_only_with_brokers_and_when_on() {
    assert!(parse(&[]).unwrap().relay.is_none());
    let relay = parse(&["--kafka-brokers", "k:9092"])
        .unwrap()
        .relay
        .unwrap();
    assert_eq!(relay.kafka.topic, "authd.user-events");
    assert!(parse(&["--kafka-brokers", "k:9092", "--relay", "false"])
        .unwrap()
        .relay
        .is_none());
}

#[test]
fn the_defaults_are_what_an_empty_command_line_gives() {
    let store = StoreConfig::Sqlite {
        path: "/tmp/x/authd.sqlite3".into(),
    };
    let mut parsed = parse(&["--data-dir", "/tmp/x"]).unwrap();
    let mut defaults = Config::defaults(store);
    parsed.instance_id.clear();
    defaults.instance_id.clear();
    assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    assert_eq!(defaults.tokens.access_ttl, Duration::from_secs(900));
    assert_eq!(defaults.throttle.account_failures, 5);
}

#[test]
fn kafka_properties_reach_the_clients_and_a_wrong_one_stops_the_start() {
    let brokers = ["--kafka-brokers", "k:9092", "--kafka-properties"];
    let sasl = "security.protocol=SASL_PLAINTEXT,sasl.mechanism=PLAIN,\
                sasl.username=authd,sasl.password=s3cret";
    let relay = parse(&[&brokers[..], &[sasl]].concat())
        .unwrap()
        .relay
        .unwrap();
    let properties = &relay.kafka.properties;
    assert_eq!(properties.0.len(), 4);
    assert!(properties
        .0
        .contains(&("sasl.mechanism".into(), "PLAIN".into())));
    assert!(
        !format!("{relay:?}").contains("s3cret"),
        "values are never printed"
    );
    let unknown = parse(&[&brokers[..], &["no.such.property=1"]].concat()).unwrap_err();
    assert!(unknown.contains("no.such.property"), "{unknown}");
    let own = parse(&[&brokers[..], &["acks=0"]].concat()).unwrap_err();
    assert!(own.contains("acks is set by authd"), "{own}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "# from a mounted secret\nsasl.password=s3cret\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let both = parse(
        &[
            &brokers[..],
            &["sasl.username=authd", "--kafka-properties-file", path],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(both.relay.unwrap().kafka.properties.0.len(), 2);
}

#[test]
fn mapped_ipv6_proxies_are_compared_as_ipv4() {
    let config = parse(&["--trusted-proxies", "::ffff:10.0.0.0/104,10.1.0.0/16,::1"]).unwrap();
    let nets: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "10.1.0.0/16", "::1/128"]);
}
