//! What the security review asked of the deployment files: the replicas believe
//! X-Forwarded-For from the gateway only, compose holds no password, the
//! observability tools listen on this host only, and on Kubernetes a
//! NetworkPolicy lets only the gateway in and the secrets key is a mounted Secret.

use serde_yaml::Value;

use crate::deploy_files::{compose, env_of, get};
use crate::helpers::read;

#[test]
fn compose_trusts_the_gateway_alone_and_holds_no_password() {
    let compose = compose();
    let services = &compose["services"];
    let auth = env_of(&services["auth"]);
    let gateway = services["nginx"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("the gateway has a fixed address");
    assert_eq!(
        get(&auth, "AUTHD_TRUSTED_PROXIES"),
        gateway,
        "the gateway, no range"
    );
    let subnet: ipnet::IpNet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(subnet.contains(&gateway.parse::<std::net::IpAddr>().unwrap()));
    // The passwords are required variables, never values in the file.
    let postgres = env_of(&services["postgres"]);
    assert_eq!(get(&postgres, "POSTGRES_PASSWORD"), "<AUTHD_DB_PASSWORD>");
    assert!(get(&auth, "DATABASE_URL").contains(":<AUTHD_DB_PASSWORD>@"));
    assert!(get(&auth, "AUTHD_PUBLIC_URL").starts_with("http"));
    assert_eq!(
        get(&auth, "AUTHD_SECRETS_KEY_FILE"),
        "/run/secrets/authd_secrets_key"
    );
    assert_eq!(
        compose["secrets"]["authd_secrets_key"]["environment"],
        "AUTHD_SECRETS_KEY"
    );
    for tool in ["prometheus", "grafana"] {
        let port = services[tool]["ports"][0].as_str().unwrap();
        assert!(port.starts_with("127.0.0.1:"), "{tool} published as {port}");
    }
}

fn manifest(name: &str) -> Value {
    serde_yaml::from_str(&read(&format!("deploy/kubernetes/{name}"))).unwrap()
}

#[test]
fn kubernetes_lets_only_the_gateway_in_and_mounts_the_secrets_key() {
    let policy = manifest("networkpolicy.yaml");
    let deployment = manifest("deployment.yaml");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"],
        "the policy selects the replicas"
    );
    let from: Vec<&str> = policy["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|rule| {
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(from, ["ingress-nginx", "monitoring"]);
    let config = manifest("configmap.yaml");
    let trusted = config["data"]["AUTHD_TRUSTED_PROXIES"].as_str().unwrap();
    assert!(
        !trusted.contains(','),
        "one network, not every private range: {trusted}"
    );
    let key_file = config["data"]["AUTHD_SECRETS_KEY_FILE"].as_str().unwrap();
    let spec = &deployment["spec"]["template"]["spec"];
    let mount = &spec["containers"][0]["volumeMounts"][0];
    assert!(key_file.starts_with(mount["mountPath"].as_str().unwrap()));
    assert_eq!(mount["readOnly"], true);
    let volume = &spec["volumes"][0];
    assert_eq!(volume["name"], mount["name"]);
    let secret = manifest("secrets-key.yaml");
    assert_eq!(volume["secret"]["secretName"], secret["metadata"]["name"]);
    let file = key_file.rsplit('/').next().unwrap();
    assert!(
        secret["stringData"][file].is_string(),
        "the Secret has {file}"
    );
    assert!(config["data"]["AUTHD_PUBLIC_URL"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
}
