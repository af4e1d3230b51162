//! deploy/kubernetes/ must be valid Kubernetes (1.31 schemas, strict) and agree with
//! the binary: ports, variable names, probe paths, subcommands and the CPU quota
//! the hashing pool is sized from.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;

use crate::helpers::{child_command, help, port_of, pytool, read};

const DIR: &str = "deploy/kubernetes";

fn manifest(name: &str) -> Value {
    serde_yaml::from_str(&read(&format!("{DIR}/{name}"))).unwrap()
}

fn listed() -> Vec<String> {
    manifest("kustomization.yaml")["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    child_command(pytool("kubernetes-validate", "kubernetes-validate"))
        .args(["--kubernetes-version", "1.31.0", "--strict", "--quiet"])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn every_manifest_is_listed_and_valid_against_the_kubernetes_1_31_schemas() {
    let listed: BTreeSet<String> = listed().into_iter().collect();
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(format!("{}/{DIR}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
            .collect();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DIR);
    let files: Vec<PathBuf> = listed.iter().map(|n| root.join(n)).collect();
    let out = validate(&files);
    assert!(
        out.status.success(),
        "kubernetes-validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // and the validator does refuse a manifest with a field Kubernetes lacks
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("service.yaml");
    std::fs::write(
        &broken,
        read(&format!("{DIR}/service.yaml")).replace("targetPort:", "targetPorts:"),
    )
    .unwrap();
    assert!(!validate(&[broken]).status.success());
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn every_variable_and_subcommand_is_one_the_binary_knows() {
    let help = help();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for key in manifest("configmap.yaml")["data"]
        .as_mapping()
        .unwrap()
        .keys()
    {
        names.insert(key.as_str().unwrap().into());
    }
    for key in manifest("secret.yaml")["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
    {
        names.insert(key.as_str().unwrap().into());
    }
    let deployment = manifest("deployment.yaml");
    for env in container(&deployment)["env"].as_sequence().unwrap() {
        names.insert(env["name"].as_str().unwrap().into());
    }
    assert!(
        names.contains("DATABASE_URL") && names.len() >= 8,
        "{names:?}"
    );
    for name in &names {
        assert!(
            help.contains(&format!("[env: {name}")),
            "authd --help does not know {name}"
        );
    }
    let job = manifest("migrate-job.yaml");
    for (what, args) in [
        ("deployment", &container(&deployment)["args"]),
        (
            "migrate job",
            &job["spec"]["template"]["spec"]["containers"][0]["args"],
        ),
    ] {
        let sub = args[0].as_str().unwrap();
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{sub} "))),
            "{what}: authd has no subcommand {sub}"
        );
    }
}

#[test]
fn ports_probes_and_selectors_agree() {
    let config = manifest("configmap.yaml");
    let listen = port_of(config["data"]["AUTHD_LISTEN"].as_str().unwrap());
    let deployment = manifest("deployment.yaml");
    let c = container(&deployment);
    assert_eq!(
        c["ports"][0]["containerPort"].as_u64(),
        Some(u64::from(listen))
    );
    let port_name = c["ports"][0]["name"].as_str().unwrap();
    let document: serde_json::Value = serde_json::from_str(&authd::startup::openapi_json(
        true,
        &authd::domain::Denylist::built_in(),
    ))
    .unwrap();
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            c[probe]["httpGet"]["port"].as_str(),
            Some(port_name),
            "{probe}"
        );
        assert!(
            document["paths"][path]["get"].is_object(),
            "authd serves GET {path}"
        );
    }
    let service = manifest("service.yaml");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some(port_name)
    );
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .unwrap();
    for (what, selector) in [
        ("service", &service["spec"]["selector"]),
        ("deployment", &deployment["spec"]["selector"]["matchLabels"]),
        (
            "pdb",
            &manifest("pdb.yaml")["spec"]["selector"]["matchLabels"],
        ),
    ] {
        for (k, v) in selector.as_mapping().unwrap() {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "{what} selects {k:?} the pods lack"
            );
        }
    }
    let hpa = manifest("hpa.yaml");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    let service_port = service["spec"]["ports"][0]["name"].as_str().unwrap();
    let ingress = manifest("ingress.yaml");
    let mut paths = BTreeSet::new();
    for p in ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .unwrap()
    {
        assert_eq!(p["backend"]["service"]["name"], service["metadata"]["name"]);
        assert_eq!(
            p["backend"]["service"]["port"]["name"].as_str(),
            Some(service_port)
        );
        paths.insert(p["path"].as_str().unwrap().to_string());
    }
    // the same public face as the compose nginx: never /metrics or /openapi.json
    let gateway = read("nginx/templates/authd-gateway.conf.template");
    for path in &paths {
        assert!(
            gateway.contains(&format!("location {path}"))
                || gateway.contains(&format!("location = {path}")),
            "{path} is not public in nginx/"
        );
    }
    assert!(!paths
        .iter()
        .any(|p| p.starts_with("/metrics") || p.starts_with("/openapi")));
}

#[test]
fn the_cpu_quota_sizes_the_hashing_pool_and_the_drain_fits_the_grace_period() {
    let deployment = manifest("deployment.yaml");
    let c = container(&deployment);
    let limit = c["resources"]["limits"]["cpu"].as_str().unwrap();
    let cpus: u32 = limit
        .parse()
        .unwrap_or_else(|_| panic!("limits.cpu {limit:?} is not whole CPUs"));
    assert!(cpus >= 1);
    assert_eq!(
        c["resources"]["requests"]["cpu"].as_str(),
        Some(limit),
        "request what the pool uses"
    );
    // each hashing thread keeps argon2's 19 MiB; leave room for the rest
    let memory = c["resources"]["limits"]["memory"].as_str().unwrap();
    let mib: u32 = memory.trim_end_matches("Mi").parse().unwrap();
    assert!(mib >= 64 + 19 * cpus, "{memory} for {cpus} hashing threads");
    let drain_ms: u64 = manifest("configmap.yaml")["data"]["AUTHD_SHUTDOWN_DRAIN_MS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        drain_ms + 10_000 <= grace * 1000,
        "drain {drain_ms} ms + 10 s of in-flight work within {grace} s"
    );
    // the image's user is the one the pods run as
    let uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        .as_u64()
        .unwrap();
    assert!(read("Dockerfile").contains(&format!("--uid {uid} ")));
}
