//! The Kubernetes manifests in `deploy/kubernetes/`, checked offline:
//! `kubernetes-validate --strict` against the bundled schemas of explicit
//! Kubernetes versions, the container's flags and environment variables
//! against what `burnrate serve --help` lists, the ConfigMap's catalog with
//! `burnrate check`, and the names and paths the objects share.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_serde::Value;

/// The oldest Kubernetes minor version still supported upstream, and the newest
/// the pinned kubernetes-validate bundles (`KUBERNETES_VALIDATE_VERSION` in
/// `scripts/lib/services.sh`).
const KUBERNETES_VERSIONS: [&str; 2] = ["1.35.0", "1.37.0"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every Kubernetes object file: all YAML files but kustomize's own.
fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/kubernetes/ exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few manifests: {files:?}");
    files
}

fn load(name: &str) -> Value {
    let path = deploy_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn seq_of<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {v:?}"))
}

/// The kubernetes-validate the suite installs (`scripts/test.sh`, pinned, into
/// target/tools/), or a failure that says how to get it: this test never skips.
fn kubernetes_validate() -> PathBuf {
    testkit::process::find_binary("KUBERNETES_VALIDATE_BIN", "kubernetes-validate")
}

#[test]
fn manifests_pass_strict_schema_validation() {
    let bin = kubernetes_validate();
    let files = manifest_files();
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(&bin)
            .args(["--strict", "--kubernetes-version", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "kubernetes-validate {version}:\n{text}"
        );
        // A kind without a schema is only a warning: require a pass for every file.
        for file in &files {
            let passed = format!("{} passed", file.display());
            assert!(
                text.lines().any(|l| l.contains(&passed)),
                "{} did not pass against {version}:\n{text}",
                file.display()
            );
        }
        assert!(
            !text.contains("WARN") && !text.contains("ERROR"),
            "kubernetes-validate {version}:\n{text}"
        );
    }
}

#[test]
fn kustomization_lists_every_manifest() {
    let kustomization = load("kustomization.yaml");
    let listed: BTreeSet<&str> = seq_of(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_of(r, "resources[]"))
        .collect();
    let present: Vec<String> = manifest_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(listed, present);
}

fn burnrate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
}

/// The long flags and environment variables `burnrate serve --help` lists.
fn serve_help() -> (BTreeSet<String>, BTreeSet<String>) {
    let out = burnrate()
        .args(["serve", "--help"])
        .output()
        .expect("burnrate runs");
    assert!(out.status.success(), "burnrate serve --help failed");
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    let name = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    };
    let mut flags = BTreeSet::new();
    let mut envs = BTreeSet::new();
    for line in help.lines() {
        let line = line.trim_start();
        // `--flag <VALUE>` or `-x, --flag`
        let option = line
            .strip_prefix("--")
            .or_else(|| line.split_once(", --").map(|(_, rest)| rest));
        if let Some(rest) = option.filter(|_| line.starts_with('-')) {
            flags.insert(name(rest));
        }
        if let Some((_, rest)) = line.split_once("[env: ") {
            envs.insert(name(rest));
        }
    }
    for known in ["catalog", "database-url", "listen"] {
        assert!(
            flags.contains(known),
            "help parsing lost --{known}: {flags:?}"
        );
    }
    assert!(
        envs.contains("DATABASE_URL"),
        "help parsing lost env: {envs:?}"
    );
    (flags, envs)
}

fn container() -> Value {
    let deployment = load("deployment.yaml");
    let containers = seq_of(
        &deployment["spec"]["template"]["spec"]["containers"],
        "containers",
    );
    assert_eq!(containers.len(), 1, "one container: burnrate");
    containers[0].clone()
}

/// The container's `args` as (flag, value) pairs, after `serve`.
fn serve_args(container: &Value) -> Vec<(String, Option<String>)> {
    let args = seq_of(&container["args"], "args");
    assert_eq!(
        str_of(&args[0], "args[0]"),
        "serve",
        "the image's entrypoint is `burnrate`"
    );
    args[1..]
        .iter()
        .map(|a| {
            let a = str_of(a, "args[]");
            let flag = a
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("`{a}`: write every argument as --flag or --flag=value"));
            match flag.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (flag.to_string(), None),
            }
        })
        .collect()
}

fn arg(args: &[(String, Option<String>)], flag: &str) -> String {
    args.iter()
        .find(|(f, _)| f == flag)
        .and_then(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("the container passes no --{flag}=VALUE"))
}

#[test]
fn container_uses_only_flags_and_env_serve_lists() {
    let (flags, envs) = serve_help();
    let container = container();
    let args = serve_args(&container);
    for (flag, _) in &args {
        assert!(
            flags.contains(flag),
            "--{flag} is not a `burnrate serve` flag; it has: {flags:?}"
        );
    }
    let env = seq_of(&container["env"], "env");
    for var in env {
        let name = str_of(&var["name"], "env[].name");
        assert!(
            envs.contains(name),
            "{name} is not an environment variable `burnrate serve` reads; it reads: {envs:?}"
        );
    }
    // The two required settings are given, one way or the other.
    let given = |flag: &str, var: &str| {
        args.iter().any(|(f, _)| f == flag) || env.iter().any(|v| v["name"].as_str() == Some(var))
    };
    assert!(given("prometheus-url", "PROMETHEUS_URL"));
    assert!(given("database-url", "DATABASE_URL"));
}

#[test]
fn configmap_catalog_passes_burnrate_check() {
    let configmap = load("configmap-catalog.yaml");
    let data = configmap["data"].as_mapping().expect("ConfigMap data");
    assert!(!data.is_empty());
    let dir = tempfile::tempdir().expect("temp dir");
    for (key, text) in data {
        let key = str_of(key, "data key");
        assert!(
            key.ends_with(".yaml"),
            "`{key}`: burnrate reads *.yaml files"
        );
        std::fs::write(dir.path().join(key), str_of(text, key)).expect("write catalog file");
    }
    let out = burnrate()
        .args(["check", "--strict"])
        .arg(dir.path())
        .output()
        .expect("burnrate runs");
    assert!(
        out.status.success(),
        "burnrate check --strict on the ConfigMap's catalog:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The mount path of the volume named `volume`, and that volume.
fn mount(container: &Value, pod: &Value, volume: &str) -> (String, Value) {
    let path = seq_of(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["name"].as_str() == Some(volume))
        .map(|m| str_of(&m["mountPath"], "mountPath").to_string())
        .unwrap_or_else(|| panic!("no mount of volume `{volume}`"));
    let spec = seq_of(&pod["volumes"], "volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("no volume `{volume}`"))
        .clone();
    (path, spec)
}

#[test]
fn objects_agree_on_names_paths_ports_and_labels() {
    let deployment = load("deployment.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = container();
    let args = serve_args(&container);
    let configmap = load("configmap-catalog.yaml");
    let secret = load("secret.yaml");
    let service = load("service.yaml");
    let pdb = load("poddisruptionbudget.yaml");

    // The catalog is the ConfigMap, mounted whole at --catalog.
    let (catalog_path, catalog_volume) = mount(&container, pod, "catalog");
    assert_eq!(arg(&args, "catalog"), catalog_path);
    assert_eq!(
        catalog_volume["configMap"]["name"],
        configmap["metadata"]["name"]
    );

    // Token files come from the Secret's keys, in its mount.
    let secret_keys: BTreeSet<&str> = secret["stringData"]
        .as_mapping()
        .expect("Secret stringData")
        .keys()
        .map(|k| str_of(k, "stringData key"))
        .collect();
    let (secrets_path, secrets_volume) = mount(&container, pod, "secrets");
    assert_eq!(
        secrets_volume["secret"]["secretName"],
        secret["metadata"]["name"]
    );
    let items = seq_of(&secrets_volume["secret"]["items"], "secret items");
    for flag in ["api-token-file", "api-write-token-file"] {
        let file = arg(&args, flag);
        let rel = file
            .strip_prefix(&format!("{secrets_path}/"))
            .unwrap_or_else(|| panic!("--{flag}={file} is outside {secrets_path}"));
        let item = items
            .iter()
            .find(|i| i["path"].as_str() == Some(rel))
            .unwrap_or_else(|| panic!("--{flag}: no secret item at `{rel}`"));
        assert!(secret_keys.contains(str_of(&item["key"], "item key")));
    }
    for var in seq_of(&container["env"], "env") {
        let from = &var["valueFrom"]["secretKeyRef"];
        if !from.is_null() {
            assert_eq!(from["name"], secret["metadata"]["name"]);
            assert!(secret_keys.contains(str_of(&from["key"], "secretKeyRef.key")));
        }
    }

    // --listen, the container port, the probes and the Service agree.
    let port = seq_of(&container["ports"], "ports")[0].clone();
    let listen = arg(&args, "listen");
    assert_eq!(
        listen.rsplit_once(':').map(|(_, p)| p.parse::<u64>().ok()),
        Some(port["containerPort"].as_u64()),
        "--listen={listen}"
    );
    let port_name = str_of(&port["name"], "port name");
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"].as_str(), Some(path));
        assert_eq!(
            container[probe]["httpGet"]["port"].as_str(),
            Some(port_name)
        );
    }
    let service_port = &seq_of(&service["spec"]["ports"], "Service ports")[0];
    assert_eq!(service_port["targetPort"].as_str(), Some(port_name));

    // The Service and the PodDisruptionBudget select the Deployment's pods.
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .expect("pod labels");
    let selectors = [
        &deployment["spec"]["selector"]["matchLabels"],
        &service["spec"]["selector"],
        &pdb["spec"]["selector"]["matchLabels"],
    ];
    for selector in selectors {
        let selector = selector.as_mapping().expect("a label selector");
        assert!(!selector.is_empty());
        for (k, v) in selector {
            assert_eq!(pod_labels.get(k), Some(v), "selector {k:?}");
        }
    }
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(3));
}
