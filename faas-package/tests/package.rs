//! Packaging behaviour as a user sees it: reproducibility, ignore rules, symlinks, limits,
//! dependency vendoring and bad input.

#![allow(clippy::unwrap_used)]

mod common;

use common::write;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use faas_package::{DependencyOptions, Package, PackageBuilder, PackageError, PackageLimits, Runtime};

fn sample_tree(root: &Path, order: &[usize], file_mode: u32, exec_mode: u32) {
    let files: Vec<(&str, Vec<u8>, u32)> = vec![
        (
            "lambda_function.py",
            b"def lambda_handler(e, c):\n    return {'ok': True}\n".to_vec(),
            file_mode,
        ),
        ("lib/util.py", b"X = 1\n".repeat(500), file_mode),
        (
            "lib/data/big.bin",
            (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            file_mode,
        ),
        ("bootstrap", b"#!/bin/sh\necho hi\n".to_vec(), exec_mode),
        ("empty.txt", Vec::new(), file_mode),
    ];
    for &i in order {
        let (rel, content, mode) = &files[i];
        write(root, rel, content, *mode);
    }
}

fn build(src: &Path, out: &Path) -> Result<Package, PackageError> {
    PackageBuilder::new(src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(out)
        .build()
}

fn set_mtime(path: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn same_files_give_the_same_bytes_whatever_mtimes_order_and_modes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    sample_tree(a.path(), &[0, 1, 2, 3, 4], 0o644, 0o755);
    sample_tree(b.path(), &[4, 2, 0, 3, 1], 0o600, 0o700);
    for (i, f) in ["lambda_function.py", "lib/util.py", "bootstrap"].iter().enumerate() {
        set_mtime(&b.path().join(f), 1_000_000_000 + i as i64 * 12_345);
    }
    let p1 = build(a.path(), &out.path().join("a.zip")).unwrap();
    let p2 = build(a.path(), &out.path().join("a2.zip")).unwrap();
    let p3 = build(b.path(), &out.path().join("b.zip")).unwrap();
    assert_eq!(p1.sha256, p2.sha256);
    assert_eq!(
        p1.sha256, p3.sha256,
        "mtimes, creation order and umask-like modes must not matter"
    );
    assert_eq!(fs::read(&p1.path).unwrap(), fs::read(&p3.path).unwrap());
    assert_eq!(p1.files, 5);
    assert_eq!(p1.unzipped_size, p1.manifest.iter().map(|m| m.size).sum::<u64>());
    assert_eq!(p1.size, fs::metadata(&p1.path).unwrap().len());
    // The base64 digest is the hex digest's bytes.
    assert_eq!(p1.code_sha256.len(), 44);

    // The zip is readable, entries are sorted, modes normalised, bootstrap executable.
    let mut zip = zip::ZipArchive::new(fs::File::open(&p1.path).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mode = f.unix_mode().unwrap() & 0o777;
        assert_eq!(mode, if name == "bootstrap" { 0o755 } else { 0o644 }, "{name}");
        assert_eq!(f.last_modified().unwrap().to_string(), "1980-01-01 00:00:00");
        assert!(f.extra_data().is_none_or(|e| e.is_empty()), "{name} has extra fields");
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        let entry = p1.manifest.iter().find(|m| m.path == name).unwrap();
        assert_eq!(entry.size, content.len() as u64);
    }
    // Describing the built zip gives the same package.
    let described = Package::from_zip(&p1.path).unwrap();
    assert_eq!(described.sha256, p1.sha256);
    assert_eq!(described.manifest, p1.manifest);
}

#[test]
fn timestamp_is_honoured_and_changes_the_digest() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    sample_tree(src.path(), &[0, 1, 2, 3, 4], 0o644, 0o755);
    let a = build(src.path(), &out.path().join("a.zip")).unwrap();
    let b = PackageBuilder::new(src.path())
        .output(out.path().join("b.zip"))
        .timestamp(1_709_210_096)
        .build()
        .unwrap();
    assert_ne!(a.sha256, b.sha256);
    let mut zip = zip::ZipArchive::new(fs::File::open(&b.path).unwrap()).unwrap();
    assert_eq!(
        zip.by_index(0).unwrap().last_modified().unwrap().to_string(),
        "2024-02-29 12:34:56"
    );
}

#[test]
fn ignore_files_and_defaults_apply() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = src.path();
    write(r, "lambda_function.py", b"def lambda_handler(e, c): pass\n", 0o644);
    write(r, ".faasignore", b"tests/\n*.log\n!keep.log\n", 0o644);
    write(r, "tests/test_x.py", b"", 0o644);
    write(r, "debug.log", b"x", 0o644);
    write(r, "keep.log", b"x", 0o644);
    write(r, "sub/.funcignore", b"local.settings.json\n", 0o644);
    write(r, "sub/local.settings.json", b"{}", 0o644);
    write(r, "sub/mod.py", b"", 0o644);
    write(r, "other/.gcloudignore", b"secret.txt\n", 0o644);
    write(r, "other/secret.txt", b"", 0o644);
    write(r, "other/ok.txt", b"", 0o644);
    write(r, ".git/config", b"", 0o644);
    write(r, "pkg/__pycache__/a.cpython-312.pyc", b"", 0o644);
    write(r, "pkg/b.pyc", b"", 0o644);
    write(r, ".DS_Store", b"", 0o644);
    write(r, ".env.example", b"A=1", 0o644);
    let p = build(r, &out.path().join("f.zip")).unwrap();
    let names: Vec<&str> = p.manifest.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        names,
        vec![
            ".env.example",
            "keep.log",
            "lambda_function.py",
            "other/ok.txt",
            "sub/mod.py"
        ]
    );
}

#[test]
fn symlinks_inside_are_stored_as_content_and_escaping_ones_are_refused() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = src.path();
    write(r, "lambda_function.py", b"def lambda_handler(e, c): pass\n", 0o644);
    write(r, "shared/config.json", b"{\"a\":1}", 0o644);
    symlink("shared/config.json", r.join("config.json")).unwrap();
    symlink("shared", r.join("shared-dir")).unwrap();
    let p = build(r, &out.path().join("f.zip")).unwrap();
    let link = p.manifest.iter().find(|m| m.path == "config.json").unwrap();
    let target = p.manifest.iter().find(|m| m.path == "shared/config.json").unwrap();
    assert_eq!(link.sha256, target.sha256);
    assert!(p.manifest.iter().any(|m| m.path == "shared-dir/config.json"));

    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", b"nope", 0o644);
    symlink(outside.path().join("secret.txt"), r.join("leak.txt")).unwrap();
    let zip = out.path().join("g.zip");
    match build(r, &zip) {
        Err(PackageError::SymlinkEscapes { link, .. }) => {
            assert_eq!(link, PathBuf::from("leak.txt"))
        }
        other => panic!("expected SymlinkEscapes, got {other:?}"),
    }
    assert!(!zip.exists());
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        1,
        "no temporary file is left behind"
    );
}

fn no_output(out: &Path) {
    assert!(
        fs::read_dir(out).map(|d| d.count() == 0).unwrap_or(true),
        "an output was left behind in {}",
        out.display()
    );
}

#[test]
fn bad_input_gives_typed_errors_and_no_output() {
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("f.zip");

    let err = build(Path::new("/nonexistent/faas-src"), &zip).unwrap_err();
    assert!(matches!(err, PackageError::SourceMissing { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/faas-src"));

    let truly_empty = tempfile::tempdir().unwrap();
    let err = PackageBuilder::new(truly_empty.path())
        .output(&zip)
        .build()
        .unwrap_err();
    assert!(matches!(err, PackageError::EmptySource { .. }), "{err}");

    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), ".faasignore", b"*\n", 0o644);
    let err = PackageBuilder::new(empty.path()).output(&zip).build().unwrap_err();
    assert!(matches!(err, PackageError::EmptySource { .. }), "{err}");

    let src = tempfile::tempdir().unwrap();
    write(src.path(), "main.py", b"", 0o644);
    let err = build(src.path(), &zip).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PackageError::HandlerMissing { .. }), "{msg}");
    assert!(
        msg.contains("lambda_function.py") && msg.contains("main.py") && msg.contains("handler"),
        "{msg}"
    );

    let err = "cobol85".parse::<Runtime>().unwrap_err();
    assert!(matches!(err, PackageError::UnknownRuntime { .. }));

    let err = PackageBuilder::new(src.path())
        .output(src.path().join("dist/f.zip"))
        .build()
        .unwrap_err();
    assert!(matches!(err, PackageError::OutputInsideSource { .. }), "{err}");
    assert!(!src.path().join("dist").exists());

    // A FIFO cannot be packaged; a dangling link cannot be read.
    let fifo_src = tempfile::tempdir().unwrap();
    write(fifo_src.path(), "lambda_function.py", b"", 0o644);
    let status = std::process::Command::new("mkfifo")
        .arg(fifo_src.path().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let err = build(fifo_src.path(), &zip).unwrap_err();
    assert!(
        matches!(&err, PackageError::Unreadable { path, .. } if path.ends_with("pipe")),
        "{err}"
    );

    let dangling = tempfile::tempdir().unwrap();
    write(dangling.path(), "lambda_function.py", b"", 0o644);
    symlink("missing.txt", dangling.path().join("gone.txt")).unwrap();
    let err = build(dangling.path(), &zip).unwrap_err();
    assert!(
        matches!(&err, PackageError::Unreadable { path, .. } if path.ends_with("gone.txt")),
        "{err}"
    );

    // A custom runtime's bootstrap must exist and be executable.
    let custom = tempfile::tempdir().unwrap();
    write(custom.path(), "bootstrap", b"#!/bin/sh\n", 0o644);
    let err = PackageBuilder::new(custom.path())
        .runtime("provided.al2023".parse().unwrap())
        .output(&zip)
        .build()
        .unwrap_err();
    assert!(matches!(err, PackageError::NotExecutable { .. }), "{err}");
    no_output(out.path());
}

#[test]
fn size_limits_name_the_largest_entries() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    sample_tree(src.path(), &[0, 1, 2, 3, 4], 0o644, 0o755);
    let err = PackageBuilder::new(src.path())
        .output(out.path().join("f.zip"))
        .limits(PackageLimits {
            max_zipped: None,
            max_unzipped: Some(100_000),
        })
        .build()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            PackageError::TooLarge {
                what: "unzipped",
                limit: 100_000,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("lib/data/big.bin (300000)"), "{msg}");
    let err = PackageBuilder::new(src.path())
        .output(out.path().join("f.zip"))
        .limits(PackageLimits {
            max_zipped: Some(1_000),
            max_unzipped: None,
        })
        .build()
        .unwrap_err();
    assert!(matches!(err, PackageError::TooLarge { what: "zipped", .. }), "{err}");
    no_output(out.path());
}

#[test]
fn large_files_and_many_files_round_trip() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(src.path(), "big.bin", &big, 0o755);
    for i in 0..70_000 {
        let p = src.path().join(format!("d{}/f{i}.txt", i % 100));
        if i < 100 {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        fs::write(p, i.to_string()).unwrap();
    }
    let p = PackageBuilder::new(src.path())
        .output(out.path().join("f.zip"))
        .build()
        .unwrap();
    assert_eq!(p.files, 70_001);
    let mut zip = zip::ZipArchive::new(fs::File::open(&p.path).unwrap()).unwrap();
    assert_eq!(zip.len(), 70_001, "zip64 end record lets readers see every entry");
    let mut f = zip.by_name("big.bin").unwrap();
    assert_eq!(f.unix_mode().unwrap() & 0o777, 0o755);
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert!(back == big);
    drop(f);
    let mut f = zip.by_name("d7/f12307.txt").unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "12307");
}

#[test]
fn reading_a_zip_rejects_path_traversal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    w.start_file("ok.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.start_file("../evil.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap();
    let err = Package::from_zip(&path).unwrap_err();
    assert!(matches!(err, PackageError::UnsafeEntry { .. }), "{err}");
    let dest = dir.path().join("x");
    let err = Package::extract(&path, &dest).unwrap_err();
    assert!(matches!(err, PackageError::UnsafeEntry { .. }), "{err}");
    assert!(!dest.exists() && !dir.path().join("evil.txt").exists());
}

/// A zip of `mb` MB of zeros in one entry (a few KB on disk).
fn zip_bomb(path: &Path, mb: usize) {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(fs::File::create(path).unwrap());
    w.start_file("zeros.bin", zip::write::SimpleFileOptions::default())
        .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..mb {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn reading_and_unpacking_stop_at_the_unzipped_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.zip");
    zip_bomb(&bomb, 64);
    assert!(fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let limit = 4 << 20;
    let err = Package::from_zip_limited(&bomb, Some(limit)).unwrap_err();
    assert!(
        matches!(err, PackageError::TooLarge { limit: l, .. } if l == limit),
        "{err}"
    );
    let dest = dir.path().join("out");
    let err = Package::extract_limited(&bomb, &dest, Some(limit)).unwrap_err();
    assert!(matches!(err, PackageError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("zeros.bin"), "{err}");
    let written = fs::metadata(dest.join("zeros.bin")).map(|m| m.len()).unwrap_or(0);
    assert!(written <= limit + 1, "unpacking went past the limit: {written} bytes");
    // Under the limit, both work.
    assert_eq!(
        Package::from_zip_limited(&bomb, Some(128 << 20)).unwrap().unzipped_size,
        64 << 20
    );
}

/// A wrapper that logs each call, then runs the real tool.
fn counting_wrapper(dir: &Path, name: &str, real: &str) -> (PathBuf, PathBuf) {
    let log = dir.join(format!("{name}.calls"));
    let script = dir.join(name);
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\nexec {real} \"$@\"\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn calls(log: &Path) -> usize {
    fs::read_to_string(log).map(|s| s.lines().count()).unwrap_or(0)
}

/// Builds a minimal pure-Python wheel by hand (a wheel is a zip with a dist-info).
fn make_wheel(dir: &Path) {
    let path = dir.join("faasdemo-1.0-py3-none-any.whl");
    let mut w = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    let files = [
        ("faasdemo/__init__.py", "VALUE = 42\n"),
        (
            "faasdemo-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: faasdemo\nVersion: 1.0\n",
        ),
        (
            "faasdemo-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        ("faasdemo-1.0.dist-info/top_level.txt", "faasdemo\n"),
        (
            "faasdemo-1.0.dist-info/RECORD",
            "faasdemo/__init__.py,,\nfaasdemo-1.0.dist-info/METADATA,,\nfaasdemo-1.0.dist-info/WHEEL,,\nfaasdemo-1.0.dist-info/top_level.txt,,\nfaasdemo-1.0.dist-info/RECORD,,\n",
        ),
    ];
    for (name, content) in files {
        w.start_file(name, o).unwrap();
        std::io::Write::write_all(&mut w, content.as_bytes()).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn python_requirements_are_vendored_with_pip_and_cached() {
    let tools = tempfile::tempdir().unwrap();
    let wheels = tempfile::tempdir().unwrap();
    make_wheel(wheels.path());
    let (python, log) = counting_wrapper(tools.path(), "python", "python3");
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "lambda_function.py",
        b"import faasdemo\ndef lambda_handler(e, c): return faasdemo.VALUE\n",
        0o644,
    );
    write(src.path(), "requirements.txt", b"faasdemo==1.0\n", 0o644);
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let options = DependencyOptions {
        python: python.display().to_string(),
        cache_dir: Some(cache.path().to_path_buf()),
        pip_args: vec![
            "--no-index".into(),
            "--find-links".into(),
            wheels.path().display().to_string(),
        ],
        ..DependencyOptions::default()
    };
    let build = |name: &str| {
        PackageBuilder::new(src.path())
            .runtime("python3.12".parse().unwrap())
            .handler("lambda_function.lambda_handler")
            .dependencies(options.clone())
            .output(out.path().join(name))
            .build()
            .unwrap()
    };
    let first = build("a.zip");
    assert!(
        first.manifest.iter().any(|m| m.path == "faasdemo/__init__.py"),
        "{:?}",
        first.manifest
    );
    assert_eq!(calls(&log), 1);
    let args = fs::read_to_string(&log).unwrap();
    for flag in [
        "--platform manylinux2014_x86_64",
        "--only-binary=:all:",
        "--python-version 3.12",
        "--implementation cp",
        "--target",
    ] {
        assert!(args.contains(flag), "pip was called without {flag}: {args}");
    }
    let second = build("b.zip");
    assert_eq!(calls(&log), 1, "an unchanged requirements.txt must not run pip again");
    assert_eq!(first.sha256, second.sha256);
    write(src.path(), "requirements.txt", b"faasdemo==1.0\n# changed\n", 0o644);
    build("c.zip");
    assert_eq!(calls(&log), 2, "a changed requirements.txt runs pip again");
}

/// `path` relative to the working directory (`..` as needed).
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let common = cwd
        .components()
        .zip(path.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = PathBuf::new();
    for _ in cwd.components().skip(common) {
        rel.push("..");
    }
    for c in path.components().skip(common) {
        rel.push(c);
    }
    rel
}

#[test]
fn a_relative_source_with_requirements_vendors_on_a_cold_cache() {
    let tools = tempfile::tempdir().unwrap();
    let wheels = tempfile::tempdir().unwrap();
    make_wheel(wheels.path());
    let (python, _) = counting_wrapper(tools.path(), "python", "python3");
    let src = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    write(
        src.path(),
        "lambda_function.py",
        b"def lambda_handler(e, c): return 1\n",
        0o644,
    );
    write(src.path(), "requirements.txt", b"faasdemo==1.0\n", 0o644);
    let relative = relative_to_cwd(src.path());
    assert!(relative.is_relative(), "{}", relative.display());
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let pkg = PackageBuilder::new(&relative)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .dependencies(DependencyOptions {
            python: python.display().to_string(),
            cache_dir: Some(cache.path().to_path_buf()),
            pip_args: vec![
                "--no-index".into(),
                "--find-links".into(),
                wheels.path().display().to_string(),
            ],
            ..DependencyOptions::default()
        })
        .output(out.path().join("rel.zip"))
        .build()
        .unwrap();
    assert!(
        pkg.manifest.iter().any(|m| m.path == "faasdemo/__init__.py"),
        "{:?}",
        pkg.manifest
    );
}

#[test]
fn node_lockfile_is_installed_with_npm_ci_and_cached() {
    let tools = tempfile::tempdir().unwrap();
    // A stand-in npm that records its arguments and installs one module, as `npm ci` would.
    let log = tools.path().join("npm.calls");
    let npm = tools.path().join("npm");
    fs::write(
        &npm,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nmkdir -p node_modules/leftpad && echo 'module.exports = 1;' > node_modules/leftpad/index.js\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&npm, fs::Permissions::from_mode(0o755)).unwrap();
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "index.js", b"exports.handler = async () => 1;\n", 0o644);
    write(
        src.path(),
        "package.json",
        b"{\"name\":\"f\",\"dependencies\":{\"leftpad\":\"1\"}}",
        0o644,
    );
    write(src.path(), "package-lock.json", b"{\"lockfileVersion\":3}", 0o644);
    write(src.path(), "node_modules/stale/index.js", b"stale", 0o644);
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let build = |name: &str| {
        PackageBuilder::new(src.path())
            .runtime("nodejs20.x".parse().unwrap())
            .handler("index.handler")
            .dependencies(DependencyOptions {
                npm: npm.display().to_string(),
                cache_dir: Some(cache.path().to_path_buf()),
                ..DependencyOptions::default()
            })
            .output(out.path().join(name))
            .build()
            .unwrap()
    };
    let p = build("a.zip");
    let names: Vec<&str> = p.manifest.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "index.js",
            "node_modules/leftpad/index.js",
            "package-lock.json",
            "package.json"
        ]
    );
    assert!(fs::read_to_string(&log).unwrap().contains("ci --omit=dev"));
    build("b.zip");
    assert_eq!(calls(&log), 1, "an unchanged lock file must not run npm again");
}

#[test]
fn failing_pip_reports_the_command_without_credentials() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "lambda_function.py", b"", 0o644);
    write(src.path(), "requirements.txt", b"no-such-package-faas==9.9\n", 0o644);
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let err = PackageBuilder::new(src.path())
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .dependencies(DependencyOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            pip_args: vec![
                "--no-index".into(),
                "--index-url".into(),
                "https://user:hunter2@127.0.0.1:9/simple".into(),
            ],
            ..DependencyOptions::default()
        })
        .output(out.path().join("f.zip"))
        .build()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PackageError::Dependencies { .. }), "{msg}");
    assert!(!msg.contains("hunter2"), "credentials leaked: {msg}");
    no_output(out.path());
    assert_eq!(
        fs::read_dir(cache.path()).unwrap().count(),
        0,
        "a failed install leaves no cache entry"
    );
}

#[test]
fn unportable_names_duplicates_and_missing_handlers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(
        &src,
        "lambda_function.py",
        b"def lambda_handler(e, c): return 1\n",
        0o644,
    );
    write(&src, "a\\b.txt", b"x", 0o644);
    let err = build(&src, &dir.path().join("o.zip")).unwrap_err();
    assert!(
        matches!(&err, PackageError::UnportableName { name } if name == "a\\b.txt"),
        "{err}"
    );

    let python: Runtime = "python3.12".parse().unwrap();
    let empty = dir.path().join("empty.zip");
    zip::ZipWriter::new(fs::File::create(&empty).unwrap()).finish().unwrap();
    let e = Package::from_zip(&empty)
        .unwrap()
        .check_contents(&python, "lambda_function.lambda_handler");
    assert!(matches!(e, Err(PackageError::EmptySource { .. })), "{e:?}");
    let other = dir.path().join("other.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&other).unwrap());
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap();
    let e = Package::from_zip(&other)
        .unwrap()
        .check_contents(&python, "lambda_function.lambda_handler");
    assert!(matches!(e, Err(PackageError::HandlerMissing { .. })), "{e:?}");
    // A package whose manifest lists a path twice (as one read from a zip with a duplicate
    // entry would; the zip crate refuses to write one).
    let mut twice = Package::from_zip(&other).unwrap();
    twice.manifest.push(twice.manifest[0].clone());
    let e = twice.check_contents(&python, "app.handler");
    assert!(matches!(e, Err(PackageError::DuplicateEntry { .. })), "{e:?}");
    Package::from_zip(&other)
        .unwrap()
        .check_contents(&python, "app.handler")
        .unwrap();
}

#[test]
fn an_invalid_ignore_pattern_is_reported_with_its_file_and_line() {
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(
        &src,
        "lambda_function.py",
        b"def lambda_handler(e, c): return 1\n",
        0o644,
    );
    write(&src, ".faasignore", b"*.log\nbuild/{a,b\n", 0o644);
    // Global: the walk runs on worker threads (the only test here that sets a subscriber).
    tracing::subscriber::set_global_default(subscriber).unwrap();
    build(&src, &dir.path().join("o.zip")).unwrap();
    let logged = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    assert!(logged.contains(".faasignore") && logged.contains("line=2"), "{logged}");
}

#[test]
fn temporaries_a_killed_run_left_are_removed_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(
        &src,
        "lambda_function.py",
        b"def lambda_handler(e, c): return 1\n",
        0o644,
    );
    let out = dir.path().join("dist");
    fs::create_dir_all(&out).unwrap();
    let (old, fresh) = (
        out.join(".faas-package-old.zip.tmp"),
        out.join(".faas-package-new.zip.tmp"),
    );
    fs::write(&old, b"half a zip").unwrap();
    fs::write(&fresh, b"a run still writing").unwrap();
    set_mtime(&old, 1_000_000_000);
    build(&src, &out.join("f.zip")).unwrap();
    assert!(!old.exists(), "a stale temporary was left");
    assert!(fresh.exists(), "a fresh temporary (another run's) was removed");
}

mod zip_reading_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Arbitrary bytes, and real zips with bytes flipped: reading never panics, and
        /// unpacking never writes outside its directory.
        #[test]
        fn damaged_zips_are_refused_not_panicked_on(
            noise in prop::collection::vec(any::<u8>(), 0..2048),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let raw = dir.path().join("raw.zip");
            fs::write(&raw, &noise).unwrap();
            let _ = Package::from_zip(&raw);
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            w.start_file("a/lambda_function.py", zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, b"def lambda_handler(e, c): return 1\n").unwrap();
            let mut bytes = w.finish().unwrap().into_inner();
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
            let flipped = dir.path().join("flipped.zip");
            fs::write(&flipped, &bytes).unwrap();
            let _ = Package::from_zip_limited(&flipped, Some(1 << 20));
            let dest = dir.path().join("out");
            let _ = Package::extract_limited(&flipped, &dest, Some(1 << 20));
            for entry in fs::read_dir(dir.path()).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                prop_assert!(["raw.zip", "flipped.zip", "out"].contains(&name.as_str()), "wrote {name}");
            }
        }
    }
}
