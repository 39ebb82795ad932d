use std::path::PathBuf;

use super::*;

const KNOWN: &[&str] = &["bolt", "boltv2", "dubbo", "tars", "echo", "http1", "http2"];

const GOOD: &str = "\
listeners:
  - name: main
    address: 127.0.0.1:12200
routes:
  - protocol: bolt
    routes:
      - action: {cluster: backend}
clusters:
  - name: backend
    endpoints:
      - address: 127.0.0.1:12201
";

fn yaml_error(text: &str) -> Diagnostic {
    match parse(text, Format::Yaml) {
        Err(ConfigError::Parse { diagnostic, .. }) => diagnostic,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn json_error(text: &str) -> Diagnostic {
    match parse(text, Format::Json) {
        Err(ConfigError::Parse { diagnostic, .. }) => diagnostic,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn line(d: &Diagnostic) -> Option<usize> {
    d.location.map(|l| l.line)
}

#[test]
fn a_typo_names_the_unknown_field_and_its_line() {
    let d =
        yaml_error(&GOOD.replace("    address: 127.0.0.1:12200", "    adress: 127.0.0.1:12200"));
    assert_eq!(d.path, "listeners[0].adress");
    assert_eq!(line(&d), Some(3));
    assert!(d.message.starts_with("unknown field `adress`, expected one of"), "{}", d.message);

    let d = json_error("{\"listeners\": [{\"name\": \"a\",\n  \"adress\": \"127.0.0.1:1\"}]}");
    assert_eq!(d.path, "listeners[0].adress");
    assert_eq!(line(&d), Some(2));
}

#[test]
fn a_wrong_type_names_the_field_and_its_line() {
    let d = yaml_error(&GOOD.replace("      - address: 127.0.0.1:12201", "      - weight: many"));
    assert_eq!(d.path, "clusters[0].endpoints[0].weight");
    assert_eq!(line(&d), Some(11));
    assert_eq!(d.message, "invalid type: string \"many\", expected u32");

    let d = yaml_error(&GOOD.replace("{cluster: backend}", "{cluster: [a, b]}"));
    assert_eq!(d.path, "routes[0].routes[0].action.cluster");
    assert_eq!(line(&d), Some(7));
}

#[test]
fn a_bad_address_displays_file_line_column_path_and_reason() {
    let text = GOOD.replace("127.0.0.1:12201", "localhost");
    let err = parse(&text, Format::Yaml).unwrap_err().with_file("config.yaml");
    assert_eq!(
        err.to_string(),
        "config.yaml:11:9: clusters[0].endpoints[0].address: invalid socket address syntax"
    );
    let d = json_error("{\"listeners\": [{\"name\": \"a\",\n  \"address\": \"nope\"}]}");
    assert_eq!(d.to_string(), "2:19: listeners[0].address: invalid socket address syntax");
}

#[test]
fn a_bad_duration_names_the_field_and_its_line() {
    let text = GOOD.replace("      - action:", "      - timeout: 5 parsecs\n        action:");
    let d = yaml_error(&text);
    assert_eq!(d.path, "routes[0].routes[0].timeout");
    assert_eq!(line(&d), Some(7));
    assert!(d.message.contains("expected a duration, found `5 parsecs`"), "{}", d.message);
    assert!(d.message.contains("like `250ms`, `3s` or `1m`"), "{}", d.message);
    let d = json_error(r#"{"limits": {"idle_timeout": 600}}"#);
    assert_eq!(d.path, "limits.idle_timeout");
    assert!(d.message.contains("bare number 600 (no unit)"), "{}", d.message);
    assert!(d.message.contains("like `250ms`, `3s` or `1m`"), "{}", d.message);
}

#[test]
fn a_missing_required_field_names_its_parent_and_line() {
    let d = yaml_error(&GOOD.replace("    address: 127.0.0.1:12200\n", ""));
    assert_eq!(d.path, "listeners[0]");
    assert_eq!(d.message, "missing field `address`");
    assert_eq!(line(&d), Some(2));

    let d = yaml_error("routes: []\n");
    assert_eq!((d.path.as_str(), d.message.as_str()), ("", "missing field `listeners`"));
}

#[test]
fn syntax_errors_and_empty_files_are_errors_not_panics() {
    let d = yaml_error("listeners:\n  - name: [a\n");
    assert!(line(&d).is_some());
    assert!(d.path.is_empty());
    let d = yaml_error("");
    assert!(d.message.contains("empty"), "{}", d.message);
    let d = json_error("{\"listeners\": []} trailing");
    assert_eq!(d.message, "trailing characters");
    for text in ["\0", "- - - -", ": :", "listeners: !!binary AAAA", "{", "!a !b c"] {
        assert!(parse(text, Format::Yaml).is_err());
        assert!(parse(text, Format::Json).is_err());
    }
}

#[test]
fn yaml_and_json_read_the_same_config() {
    let yaml = parse(GOOD, Format::Yaml).unwrap();
    let json_text = r#"{
        "listeners": [{"name": "main", "address": "127.0.0.1:12200"}],
        "routes": [{"protocol": "bolt", "routes": [{"action": {"cluster": "backend"}}]}],
        "clusters": [{"name": "backend", "endpoints": [{"address": "127.0.0.1:12201"}]}]
    }"#;
    assert_eq!(parse(json_text, Format::Json).unwrap(), yaml);
    // The YAML reader takes JSON text too, and enum values written as YAML tags.
    assert_eq!(parse(json_text, Format::Yaml).unwrap(), yaml);
    let tagged = GOOD.replace("{cluster: backend}", "!cluster backend");
    assert_eq!(parse(&tagged, Format::Yaml).unwrap(), yaml);
    assert_eq!(yaml.routes[0].routes[0].timeout, std::time::Duration::from_secs(10));
}

#[test]
fn the_format_follows_the_extension() {
    assert_eq!(Format::from_path(Path::new("a/b.json")), Format::Json);
    assert_eq!(Format::from_path(Path::new("a/b.JSON")), Format::Json);
    assert_eq!(Format::from_path(Path::new("b.yml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("b.yaml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("b")), Format::Yaml);
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xproxy-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn files_are_read_and_validated() {
    let path = temp_file("good.yaml", GOOD);
    assert_eq!(load_file(&path).unwrap().listeners[0].name, "main");
    let (config, warnings) = load_validated(&path, KNOWN).unwrap();
    assert_eq!(config.clusters[0].name, "backend");
    assert!(warnings.is_empty(), "{warnings:?}");

    let bad = temp_file("bad.yaml", &GOOD.replace("backend}", "nowhere}"));
    let err = load_validated(&bad, KNOWN).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:7:", bad.display())), "{text}");
    assert!(text.ends_with("routes[0].routes[0].action.cluster: no cluster named `nowhere`"));
    assert_eq!(err.diagnostics().len(), 1);

    let missing = bad.with_file_name("missing.yaml");
    assert!(matches!(load_file(&missing), Err(ConfigError::Read { .. })));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/configs").join(name)
}

#[test]
fn the_example_configs_parse_and_validate_without_warnings() {
    for name in ["gateway.yaml", "minimal.yaml", "gateway.json"] {
        let (_, warnings) = load_validated(example(name), KNOWN)
            .unwrap_or_else(|e| panic!("examples/configs/{name}:\n{e}"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
    }
    // gateway.json is minimal.yaml written in JSON.
    assert_eq!(
        load_file(example("gateway.json")).unwrap(),
        load_file(example("minimal.yaml")).unwrap()
    );
    let gateway = load_file(example("gateway.yaml")).unwrap();
    let protocols: Vec<&str> = gateway.routes.iter().map(|t| t.protocol.as_str()).collect();
    assert_eq!(protocols, ["bolt", "boltv2", "dubbo", "tars"]);
}

#[test]
fn every_truncation_and_corruption_is_an_error_or_a_config_never_a_panic() {
    let json = r#"{"listeners": [{"name": "m", "address": "127.0.0.1:1"}], "routes": [{"protocol": "bolt", "routes": [{"action": {"cluster": "c"}}]}]}"#;
    for text in [GOOD, json] {
        for cut in 0..text.len() {
            let Some(prefix) = text.get(..cut) else { continue };
            for format in [Format::Yaml, Format::Json] {
                if let Ok(config) = parse(prefix, format) {
                    let _ = crate::config::validate(&config, Some(prefix), KNOWN);
                }
            }
            // A stray character at each position, as a typo would put it.
            let corrupted = format!("{}]{}", prefix, text.get(cut..).unwrap_or(""));
            let _ = parse(&corrupted, Format::Yaml);
        }
    }
}

#[test]
fn the_documented_example_validates_without_warnings() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
    )
    .unwrap();
    let start = doc.find("## A complete annotated example").unwrap();
    let block = doc[start..].split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    let config = parse(block, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let report = crate::config::validate(&config, Some(block), KNOWN);
    assert_eq!(report, crate::config::Report::default());
    assert_eq!(config.admin.address, Some("127.0.0.1:9901".parse().unwrap()));
}

#[test]
fn documented_conventions_hold() {
    // A bare number is not a duration.
    let d = yaml_error(&GOOD.replace("      - action:", "      - timeout: 10\n        action:"));
    assert_eq!(d.path, "routes[0].routes[0].timeout");
    // `admin.address: null` turns the admin endpoint off; `admin: {}` keeps the default.
    let off = parse(&format!("{GOOD}admin: {{address: null}}\n"), Format::Yaml).unwrap();
    assert_eq!(off.admin.address, None);
    let default = parse(&format!("{GOOD}admin: {{}}\n"), Format::Yaml).unwrap();
    assert_eq!(default.admin.address, Some("127.0.0.1:9901".parse().unwrap()));
    // Durations combine units.
    let long = parse(
        &GOOD.replace("      - action:", "      - timeout: 1m 30s\n        action:"),
        Format::Yaml,
    )
    .unwrap();
    assert_eq!(long.routes[0].routes[0].timeout, std::time::Duration::from_secs(90));
}
