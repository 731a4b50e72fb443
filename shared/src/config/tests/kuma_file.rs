//! Kuma's own `kuma-cp.yaml` and `KUMA_*` variables load: the settings we do not implement are
//! reported as ignored, while typos still fail.

use super::*;

/// A kuma-cp.yaml as an operator moving from Kuma might write it: our settings mixed with many
/// Kuma sections we do not implement, in the shapes of Kuma 2.14's defaults file.
const KUMA_CP_YAML: &str = r#"
environment: universal
mode: zone
store:
  type: postgres
  postgres:
    host: db.example
    password: secret
    driverName: pgx
    maxIdleConnections: 50
    readReplica:
      host: ""
      port: 5432
      ratio: 100
  cache:
    enabled: true
    expirationTime: 1s
  upsert:
    conflictRetryBaseBackoff: 200ms
  unsafeDelete: false
bootstrapServer:
  params:
    adminAddress: 127.0.0.1
    xdsHost: ""
monitoringAssignmentServer:
  port: 5676
  apiVersions: ["v1"]
  assignmentRefreshInterval: 1s
xdsServer:
  nackBackoff: 5s
apiServer:
  http:
    port: 5681
  auth:
    clientCertsDir: ""
  authn:
    type: tokens
    tokens:
      bootstrapAdminToken: true
      validator:
        useSecrets: true
        publicKeys: []
  corsAllowedDomains: [".*"]
  basePath: /
  gui:
    enabled: true
    basePath: /gui
runtime:
  kubernetes:
    injector:
      exceptions:
        labels:
          openshift.io/build.name: "*"
      sidecarContainer:
        image: kuma/kuma-dp:latest
        resources:
          requests:
            cpu: 50m
        envVars: {}
      nodeLabelsToCopy: ["topology.kubernetes.io/zone"]
  universal:
    dataplaneCleanupAge: 72h0m0s
defaults:
  skipMeshCreation: false
metrics:
  zone:
    subscriptionLimit: 10
reports:
  enabled: false
general:
  dnsCacheTTL: 10s
  workDir: /srv/kuma
dnsServer:
  domain: mesh
  CIDR: 240.0.0.0/4
multizone:
  global:
    kds:
      grpcPort: 5685
      msgSendTimeout: 60s
      tracing:
        enabled: true
  zone:
    name: zone-1
    kds:
      nackBackoff: 5s
    ingressUpdateInterval: 1s
diagnostics:
  serverPort: 5680
  debugEndpoints: false
dpServer:
  port: 5678
  authn:
    dpProxy:
      type: ""
      dpToken:
        enableIssuer: true
        validator:
          useSecrets: true
          publicKeys: []
    enableReloadableTokens: false
  hds:
    enabled: true
    checkDefaults:
      timeout: 2s
interCp:
  server:
    port: 5683
access:
  type: static
  static:
    adminResources:
      users: ["mesh-system:admin"]
    viewStats:
      groups: ["mesh-system:unauthenticated", "mesh-system:authenticated"]
experimental:
  deltaXds: true
  kdsEventBasedWatchdog:
    enabled: false
proxy:
  gateway:
    globalDownstreamMaxConnections: 50000
tracing:
  openTelemetry:
    endpoint: ""
eventBus:
  bufferSize: 100
policies:
  pluginPoliciesEnabled: [meshaccesslogs, meshtimeouts]
coreResources:
  enabled: [meshservices]
ipam:
  meshService:
    cidr: 241.0.0.0/8
meshService:
  generationInterval: 2s
"#;

#[test]
fn kuma_cp_yaml_loads_and_reports_what_it_ignores() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", KUMA_CP_YAML);
    let c = load(&source(&[]), Some(&path)).unwrap();
    assert_eq!(c.multizone.zone.name.as_str(), "zone-1", "our settings still apply");
    assert_eq!(c.general.work_dir, PathBuf::from("/srv/kuma"));
    let StoreConfig::Postgres(pg) = &c.store else {
        panic!("expected postgres");
    };
    assert_eq!(pg.host, "db.example");
    for key in [
        "store.postgres.driverName",
        "store.postgres.readReplica.port",
        "store.cache.expirationTime",
        "store.unsafeDelete",
        "monitoringAssignmentServer.assignmentRefreshInterval",
        "apiServer.gui.basePath",
        "runtime.kubernetes.injector.exceptions.labels.openshift.io/build.name",
        "runtime.kubernetes.injector.nodeLabelsToCopy",
        "runtime.universal.dataplaneCleanupAge",
        "multizone.zone.kds.nackBackoff",
        "multizone.global.kds.tracing.enabled",
        "dpServer.hds.checkDefaults.timeout",
        "dpServer.authn.enableReloadableTokens",
        "access.static.viewStats.groups",
        "experimental.kdsEventBasedWatchdog.enabled",
        "policies.pluginPoliciesEnabled",
        "meshService.generationInterval",
    ] {
        assert!(c.ignored_keys.iter().any(|k| k == key), "{key} not reported");
    }
    assert!(c.ignored_keys.is_sorted(), "sorted for a stable warning: {:?}", c.ignored_keys);
    for ours in ["store.postgres.host", "apiServer.http.port", "dpServer.port"] {
        assert!(!c.ignored_keys.iter().any(|k| k == ours), "{ours}");
    }
    // Empty values set nothing, so they are not worth a warning.
    for empty in ["bootstrapServer.params.xdsHost", "store.postgres.readReplica.host"] {
        assert!(!c.ignored_keys.iter().any(|k| k == empty), "{empty}");
    }
}

#[test]
fn a_typo_among_kuma_keys_still_fails_naming_it() {
    let files = Files::new();
    let cases = [
        ("apiServer:\n  http:\n", "apiServer:\n  htp:\n", "apiServer.htp.port"),
        ("experimental:\n", "experimentl:\n", "experimentl.deltaXds"),
        ("  unsafeDelete: false\n", "  unsafeDelet: false\n", "store.unsafeDelet"),
    ];
    for (from, to, key) in cases {
        let path = files.write("typo.yaml", &KUMA_CP_YAML.replacen(from, to, 1));
        let err = load(&source(&[]), Some(&path)).unwrap_err();
        let first = err.to_string();
        assert!(
            matches!(&err, Error::UnknownKey { key: got, .. } if got.as_str() == key),
            "{to}: {first}"
        );
    }
}

#[test]
fn a_value_of_the_wrong_shape_in_an_ignored_section_is_accepted() {
    let files = Files::new();
    let text =
        "runtime:\n  kubernetes:\n    injector:\n      containerPatches: [[a], {b: {c: 1}}]\n";
    let path = files.write("kuma-cp.yaml", text);
    let c = load(&source(&[]), Some(&path)).unwrap();
    assert_eq!(c.ignored_keys, ["runtime.kubernetes.injector.containerPatches"]);
}

#[test]
fn a_list_of_mappings_where_we_expect_scalars_is_a_shape_error() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "apiServer:\n  corsAllowedDomains: [{a: b}]\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: apiServer.corsAllowedDomains: expected a list of scalars", path.display())
    );
}

#[test]
fn kuma_variables_we_do_not_implement_are_reported() {
    let env = source(&[
        ("KUMA_MODE", "global"),
        ("KUMA_REPORTS_ENABLED", "false"),
        ("KUMA_XDS_SERVER_NACK_BACKOFF", "1s"),
        ("KUMA_DP_SERVER_HDS_ENABLED", "false"),
        ("KUMA_INJECTOR_INIT_CONTAINER_IMAGE", "kuma/kuma-init"),
        // Not a Kuma setting: as in Kuma, an unknown variable is not an error (and not ours to
        // report as a Kuma setting either).
        ("KUMA_API_SERVER_HTTP_PROT", "1"),
        ("PATH", "/usr/bin"),
    ]);
    let c = load(&env, None).unwrap();
    assert_eq!(c.mode, Mode::Global);
    assert_eq!(
        c.ignored_env,
        [
            "KUMA_DP_SERVER_HDS_ENABLED",
            "KUMA_INJECTOR_INIT_CONTAINER_IMAGE",
            "KUMA_REPORTS_ENABLED",
            "KUMA_XDS_SERVER_NACK_BACKOFF",
        ]
    );
    assert!(c.ignored_keys.is_empty());
}
