//! What `veil-client infer --input` names: one file, or many inputs answered in one
//! session — the input files of a folder, the matches of a glob pattern, or the rows of a
//! batch `.npy` (a leading axis of several inputs).

use std::path::{Path, PathBuf};

use veil_client::Input;
use veil_model::NpyArray;
use veil_protocol::session::SessionError;

/// File extensions a folder's inputs are recognised by.
const EXTENSIONS: &[&str] = &["npy", "png", "jpg", "jpeg"];

/// The inputs an `--input` argument names.
pub enum Given {
    /// One file: one query (or a batch, if it holds several inputs).
    One(PathBuf),
    /// Several files, in name order: one query each, in one session.
    Many(Vec<PathBuf>),
}

/// Expands `arg`: a folder gives its input files, a pattern with `*`, `?` or `[` that
/// names no file gives its matches, anything else is one file. A folder or pattern that
/// yields nothing is bad usage.
pub fn expand(arg: &Path) -> Result<Given, SessionError> {
    if arg.is_dir() {
        let entries = std::fs::read_dir(arg).map_err(|e| {
            SessionError::usage(format!("cannot read the folder {}: {e}", arg.display()))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_input(p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SessionError::usage(format!(
                "the folder {} holds no input files ({})",
                arg.display(),
                listed()
            )));
        }
        return Ok(Given::Many(files));
    }
    let text = arg.to_string_lossy();
    if arg.exists() || !text.contains(['*', '?', '[']) {
        return Ok(Given::One(arg.to_path_buf()));
    }
    let matches = glob::glob(&text)
        .map_err(|e| SessionError::usage(format!("the pattern {text} is not valid: {e}")))?;
    let mut files: Vec<PathBuf> = matches
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SessionError::usage(format!("no file matches {text}")));
    }
    Ok(Given::Many(files))
}

/// One query's input: its name in the output, and the input or why it cannot be read.
pub struct Item {
    /// The file, or `FILE[i]` for row i of a batch.
    pub name: String,
    /// The input, or the reason it is unusable.
    pub input: Result<Input, String>,
}

/// True when `input` may hold several inputs: an array with a leading axis of more than
/// one. Whether it does depends on the model's input length ([`rows`]).
pub fn may_be_batch(input: &Input) -> bool {
    matches!(input, Input::Values(a) if a.shape.len() >= 2 && a.shape[0] > 1)
}

/// The inputs `input` read from `name` holds, for a model taking `len` values: itself (an
/// image, or an array of `len` values in any shape), or an array's rows when its leading
/// axis splits it into inputs of `len` values each.
pub fn rows(name: &str, input: Input, len: usize) -> Vec<Item> {
    let one = |input| {
        vec![Item {
            name: name.to_string(),
            input: Ok(input),
        }]
    };
    let Input::Values(array) = input else {
        return one(input);
    };
    let n = array.shape.first().copied().unwrap_or(1);
    if array.data.len() == len || array.shape.len() < 2 || n < 2 || array.data.len() != n * len {
        return one(Input::Values(array));
    }
    let shape = array.shape[1..].to_vec();
    array
        .data
        .chunks_exact(len)
        .enumerate()
        .map(|(i, row)| Item {
            name: format!("{name}[{i}]"),
            input: Ok(Input::Values(NpyArray {
                shape: shape.clone(),
                data: row.to_vec(),
            })),
        })
        .collect()
}

fn is_input(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn listed() -> String {
    EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize]) -> Input {
        let n = shape.iter().product();
        Input::Values(NpyArray {
            shape: shape.to_vec(),
            data: (0..n).map(|v| v as f32).collect(),
        })
    }

    fn values(item: &Item) -> &[f32] {
        match &item.input {
            Ok(Input::Values(a)) => &a.data,
            _ => panic!("an array"),
        }
    }

    #[test]
    fn an_array_of_one_inputs_length_is_one_input_whatever_its_shape() {
        for shape in [[1usize, 784].as_slice(), &[28, 28], &[784], &[1, 1, 28, 28]] {
            let items = rows("x.npy", array(shape), 784);
            assert_eq!(items.len(), 1, "{shape:?}");
            assert_eq!(items[0].name, "x.npy");
        }
    }

    #[test]
    fn a_leading_axis_of_several_inputs_is_a_batch_in_order() {
        let items = rows("b.npy", array(&[3, 1, 4]), 4);
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["b.npy[0]", "b.npy[1]", "b.npy[2]"]);
        assert_eq!(values(&items[1]), &[4.0, 5.0, 6.0, 7.0]);
        // Not a whole number of inputs: one (wrong) input, refused later with its shape.
        assert_eq!(rows("c.npy", array(&[3, 5]), 4).len(), 1);
    }

    #[test]
    fn folders_and_patterns_expand_to_their_input_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.npy", "a.npy", "notes.txt", "c.NPY", "d.png"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let Given::Many(files) = expand(dir.path()).unwrap() else {
            panic!("a folder is many inputs")
        };
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["a.npy", "b.npy", "c.NPY", "d.png"]);
        let pattern = dir.path().join("[ab].npy");
        let Given::Many(files) = expand(&pattern).unwrap() else {
            panic!("a pattern is many inputs")
        };
        assert_eq!(files.len(), 2);
        assert!(matches!(
            expand(&dir.path().join("a.npy")).unwrap(),
            Given::One(_)
        ));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(expand(empty.path()).err().unwrap().exit_code(), 2);
        assert_eq!(
            expand(&dir.path().join("z*.npy"))
                .err()
                .unwrap()
                .exit_code(),
            2
        );
    }
}
