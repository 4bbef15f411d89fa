//! The permanent attack suite: a data-driven corpus of bad input (`tests/attack/corpus.json`)
//! run through the examples as a user or an attacker would — package, deploy, invoke and
//! pipeline, on the local provider and on AWS (moto). Each case names the command, its
//! arguments and input files, the exit status, words the error must contain, what must not
//! be left behind, and secret canaries that must appear nowhere in the output (those cases
//! run with `RUST_LOG=trace`).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::example;
use serde_json::Value;

#[derive(Debug)]
struct Case {
    name: String,
    cmd: String,
    provider: String,
    args: Vec<String>,
    files: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    exit: i32,
    stderr: Vec<String>,
    stdout: Vec<String>,
    absent: Vec<String>,
    absent_functions: Vec<String>,
    canaries: Vec<String>,
    setup: Option<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn corpus() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attack/corpus.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            cmd: c["cmd"].as_str().unwrap().to_string(),
            provider: c["provider"].as_str().unwrap().to_string(),
            args: strings(&c["args"]),
            files: map(&c["files"]),
            env: map(&c["env"]),
            exit: c["exit"].as_i64().unwrap() as i32,
            stderr: strings(&c["stderr"]),
            stdout: strings(&c["stdout"]),
            absent: strings(&c["absent"]),
            absent_functions: strings(&c["absent_functions"]),
            canaries: strings(&c["canaries"]),
            setup: c["setup"].as_str().map(str::to_string),
        })
        .collect()
}

struct Places {
    dir: PathBuf,
    role: String,
}

impl Places {
    fn fill(&self, s: &str) -> String {
        let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-python");
        s.replace("{dir}", &self.dir.display().to_string())
            .replace("{hello}", &hello.display().to_string())
            .replace("{role}", &self.role)
    }
}

/// A zip of `mb` MB of zeros beside a handler (a few hundred KB on disk).
fn bomb(path: &Path, mb: usize) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("lambda_function.py", opts).unwrap();
    w.write_all(b"def lambda_handler(e, c):\n    return 1\n").unwrap();
    w.start_file("zeros.bin", opts).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..mb {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap();
}

fn traversal(path: &Path) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    w.start_file("../evil.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap();
}

fn make_files(p: &Places, files: &BTreeMap<String, String>) {
    for (rel, content) in files.iter().filter(|(k, _)| !k.starts_with('@')) {
        let path = p.dir.join(rel.trim_end_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if content == "@dir" {
            std::fs::create_dir_all(&path).unwrap();
        } else if let Some(target) = content.strip_prefix("@symlink:") {
            std::os::unix::fs::symlink(p.fill(target), &path).unwrap();
        } else if content == "@fifo" {
            assert!(Command::new("mkfifo").arg(&path).status().unwrap().success());
        } else if let Some(mb) = content.strip_prefix("@bomb:") {
            bomb(&path, mb.parse().unwrap());
        } else if content == "@traversal" {
            traversal(&path);
        } else {
            std::fs::write(&path, p.fill(content)).unwrap();
        }
    }
}

/// `@tamper: field=value`: rewrites a field of the deployed function's state record.
fn tamper(p: &Places, files: &BTreeMap<String, String>) {
    let Some(spec) = files.get("@tamper") else { return };
    let (field, value) = spec.split_once('=').unwrap();
    let record = p.dir.join("state/functions/atk.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let mut at = &mut v;
    for part in field.split('.') {
        at = &mut at[part];
    }
    *at = Value::String(value.to_string());
    std::fs::write(&record, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Every path below `dir`.
fn all_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

fn command(cmd: &str, envs: &[(String, String)]) -> Command {
    let mut c = Command::new(example(cmd));
    c.envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c
}

/// Runs one case; returns what went wrong, if anything.
fn run(case: &Case, base_env: &[(String, String)], role: &str) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let p = Places {
        dir: tmp.path().to_path_buf(),
        role: role.to_string(),
    };
    make_files(&p, &case.files);
    if case.setup.as_deref() == Some("deployed") {
        let out = command("deploy", base_env)
            .current_dir(&p.dir)
            .args(["--function", "atk", "--runtime", "python3.12"])
            .args(["--handler", "lambda_function.lambda_handler", "--publish"])
            .arg("--src")
            .arg(p.fill("{hello}"))
            .args([
                "--state-dir",
                &p.fill("{dir}/state"),
                "--out",
                &p.fill("{dir}/setup.zip"),
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!("setup failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        tamper(&p, &case.files);
    }
    let mut envs: Vec<(String, String)> = base_env.to_vec();
    envs.extend(case.env.iter().map(|(k, v)| (k.clone(), p.fill(v))));
    if !case.canaries.is_empty() {
        envs.push(("RUST_LOG".into(), "trace".into()));
    }
    let args: Vec<String> = case.args.iter().map(|a| p.fill(a)).collect();
    let out = command(&case.cmd, &envs)
        .current_dir(&p.dir)
        .args(&args)
        .output()
        .map_err(|e| format!("could not run {}: {e}", case.cmd))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let shown = || format!("\n  stdout: {}\n  stderr: {}", tail(&stdout), tail(&stderr));
    if out.status.code() != Some(case.exit) {
        return Err(format!(
            "exit {:?}, expected {}{}",
            out.status.code(),
            case.exit,
            shown()
        ));
    }
    for (want, text) in case
        .stderr
        .iter()
        .map(|w| (w, &stderr))
        .chain(case.stdout.iter().map(|w| (w, &stdout)))
    {
        if !text.to_lowercase().contains(&want.to_lowercase()) {
            return Err(format!("the output lacks {want:?}{}", shown()));
        }
    }
    for canary in &case.canaries {
        if stdout.contains(canary.as_str()) || stderr.contains(canary.as_str()) {
            return Err(format!("the secret canary {canary:?} was printed"));
        }
    }
    let paths = all_paths(&p.dir);
    for absent in &case.absent {
        let prefix = p.dir.join(absent);
        if let Some(found) = paths
            .iter()
            .find(|x| x.starts_with(&prefix) || x.to_string_lossy().starts_with(&*prefix.to_string_lossy()))
        {
            return Err(format!("{} was left behind", found.display()));
        }
    }
    Ok(())
}

fn tail(s: &str) -> String {
    let cut = s.len().saturating_sub(600);
    let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
    s[cut..].replace('\n', "\n    ")
}

fn report(provider: &str, results: &[(String, Result<(), String>)]) {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    println!(
        "attack corpus ({provider}): {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_corpus_holds_enough_cases() {
    let cases = corpus();
    assert!(cases.len() >= 120, "{} cases", cases.len());
    for cmd in ["package", "deploy", "invoke", "pipeline"] {
        assert!(cases.iter().any(|c| c.cmd == cmd), "no {cmd} case");
    }
    assert!(cases.iter().any(|c| c.provider == "aws"), "no moto case");
}

#[test]
fn attack_corpus_on_the_local_provider() {
    let results: Vec<_> = corpus()
        .into_iter()
        .filter(|c| c.provider == "local")
        .map(|c| {
            let r = run(&c, &[], "");
            (c.name, r)
        })
        .collect();
    report("local", &results);
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_corpus_on_aws_through_moto() {
    use faas_aws::test_support::{BUCKET, Moto, ROLE};
    use faas_core::Provider;
    let Some(moto) = Moto::start().await else { return };
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("FAAS_AWS_BUCKET", BUCKET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let aws = common::aws_at(&moto.url).await;
    let mut results = Vec::new();
    for case in corpus().into_iter().filter(|c| c.provider == "aws") {
        let env = env.clone();
        let outcome = {
            let c = case.name.clone();
            let ran = tokio::task::spawn_blocking({
                let case_env = env.clone();
                move || {
                    let case = corpus().into_iter().find(|x| x.name == c).unwrap();
                    run(&case, &case_env, ROLE)
                }
            })
            .await
            .unwrap();
            match ran {
                Err(e) => Err(e),
                Ok(()) => {
                    let mut left = None;
                    for f in &case.absent_functions {
                        if aws.get(f).await.is_ok() {
                            left = Some(format!("the function {f} was created"));
                        }
                    }
                    left.map_or(Ok(()), Err)
                }
            }
        };
        results.push((case.name, outcome));
    }
    report("aws", &results);
}
