//! .npy/.npz interop with NumPy: reads fixtures written by NumPy (tests/data, made by
//! tests/data/make_npy_fixtures.py) and, when python3 with numpy is available, checks that NumPy
//! reads what zenrt writes.

use std::path::PathBuf;
use zenrt::npy::{read_npy, read_npz, write_npy, write_npz_with};
use zenrt::{DType, Tensor};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn expect_arange(t: &Tensor, dtype: DType) {
    assert_eq!(t.dtype(), dtype);
    assert_eq!(t.shape(), &[2, 3]);
    assert_eq!(t.to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "{dtype}");
}

#[test]
fn reads_numpy_files_of_every_dtype_and_byte_order() {
    let dts = [
        ("f2", DType::F16),
        ("f4", DType::F32),
        ("f8", DType::F64),
        ("i1", DType::I8),
        ("i2", DType::I16),
        ("i4", DType::I32),
        ("i8", DType::I64),
        ("u1", DType::U8),
        ("u2", DType::U16),
        ("u4", DType::U32),
        ("u8", DType::U64),
    ];
    for (code, dt) in dts {
        expect_arange(&read_npy(data(&format!("le_{code}.npy"))).unwrap(), dt);
        if code != "i1" && code != "u1" {
            expect_arange(&read_npy(data(&format!("be_{code}.npy"))).unwrap(), dt);
        }
    }
    let b = read_npy(data("b1.npy")).unwrap();
    assert_eq!(b.as_slice::<bool>().unwrap(), &[false, true, false, true, false, true]);
    expect_arange(&read_npy(data("v2_f4.npy")).unwrap(), DType::F32);
    expect_arange(&read_npy(data("v3_f4.npy")).unwrap(), DType::F32);
    expect_arange(&read_npy(data("fortran_f4.npy")).unwrap(), DType::F32);
    let f3 = read_npy(data("fortran_3d_i2.npy")).unwrap();
    assert_eq!(f3.shape(), &[2, 3, 4]);
    assert_eq!(f3.to_i64_vec(), (0..24).collect::<Vec<i64>>());
    let s = read_npy(data("scalar_f8.npy")).unwrap();
    assert_eq!((s.shape(), s.as_slice::<f64>().unwrap()), (&[][..], &[2.5][..]));
    let e = read_npy(data("empty_i4.npy")).unwrap();
    assert_eq!((e.shape(), e.dtype()), (&[0, 3][..], DType::I32));
}

#[test]
fn reads_numpy_npz_stored_and_compressed() {
    for f in ["stored.npz", "deflate.npz"] {
        let v = read_npz(data(f)).unwrap();
        let names: Vec<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x", "y:0", "z"], "{f}");
        expect_arange(&v[0].1, DType::F32);
        expect_arange(&v[1].1, DType::I64);
        assert_eq!(v[2].1.dtype(), DType::Bool);
    }
}

#[test]
fn truncated_numpy_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["le_f8.npy", "stored.npz", "deflate.npz"] {
        let bytes = std::fs::read(data(f)).unwrap();
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            let p = dir.path().join(f);
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = if f.ends_with(".npz") { read_npz(&p).map(|_| ()) } else { read_npy(&p).map(|_| ()) }.unwrap_err();
            assert!(matches!(e.root(), zenrt::Error::InvalidTensor { .. }), "{f} cut at {cut}: {e}");
            assert!(e.to_string().contains(f), "error must name the file: {e}");
        }
    }
}

#[test]
fn numpy_reads_what_zenrt_writes() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP numpy_reads_what_zenrt_writes: python3 with numpy is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Tensor::from_vec(vec![2, 3], vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let b = Tensor::from_vec(vec![3], vec![-1i64, 0, 7]).unwrap();
    let c = Tensor::from_vec(vec![2], vec![true, false]).unwrap();
    let h = Tensor::from_vec(vec![1], vec![half::f16::from_f32(0.5)]).unwrap();
    write_npy(dir.path().join("a.npy"), &a).unwrap();
    for compress in [false, true] {
        write_npz_with(
            dir.path().join(format!("m{}.npz", compress as u8)),
            &[("a", &a), ("b:0", &b), ("c", &c), ("h", &h)],
            compress,
        )
        .unwrap();
    }
    let script = r#"
import numpy as np, sys
d = sys.argv[1]
a = np.load(d + '/a.npy')
assert a.dtype == np.float32 and a.shape == (2, 3) and (a.ravel() == np.arange(6)).all(), a
for f in ('m0.npz', 'm1.npz'):
    m = np.load(d + '/' + f)
    assert sorted(m.files) == ['a', 'b:0', 'c', 'h'], m.files
    assert (m['a'] == a).all()
    assert m['b:0'].dtype == np.int64 and list(m['b:0']) == [-1, 0, 7]
    assert m['c'].dtype == np.bool_ and list(m['c']) == [True, False]
    assert m['h'].dtype == np.float16 and m['h'][0] == 0.5
print('ok')
"#;
    let out =
        std::process::Command::new("python3").args(["-c", script, dir.path().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "numpy failed: {}", String::from_utf8_lossy(&out.stderr));
}
