//! Hive-style partition folders (`key=value/`), as Spark, Dask and pyarrow write a table
//! partitioned by a column: the value is in the folder's name rather than in the files, and is
//! read as a text column of every row below the folder (text, as a CSV column is read before it
//! is checked, so `007` stays `007`). `part=K` folders are churnguard's own customer partitions,
//! not a column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::source::PART_PREFIX;

/// The folder name of a partition whose value is missing (Hive's, Spark's and pyarrow's).
const NO_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// The partition columns of a folder table: their names and each file's values.
#[derive(Debug)]
pub(crate) struct HiveColumns {
    /// Column names, outermost folder first.
    pub keys: Vec<String>,
    /// Per file (in the table's file order), the value of each key.
    values: Vec<Vec<Option<String>>>,
}

/// Why the partition folders of a table cannot be read: the file and the cause.
pub(crate) type HiveError = (PathBuf, String);

impl HiveColumns {
    /// The partition columns of `files` under `root`: every file must sit under the same keys,
    /// in the same order. A key the files hold as a column of their own is read from the files.
    pub fn of(root: &Path, files: &[PathBuf], file_columns: &Schema) -> Result<Self, HiveError> {
        let mut keys: Option<Vec<String>> = None;
        let mut values = Vec::with_capacity(files.len());
        for file in files {
            let (names, row): (Vec<String>, Vec<Option<String>>) = folder_values(root, file).into_iter().unzip();
            match &keys {
                None => keys = Some(names),
                Some(first) if *first == names => {}
                Some(first) => {
                    return Err((
                        file.clone(),
                        format!(
                            "it is under the partition folders ({}) but {} is under ({}): every file of a table needs the same key=value folders",
                            folder_list(&names),
                            files[0].display(),
                            folder_list(first)
                        ),
                    ));
                }
            }
            values.push(row);
        }
        let keys = keys.unwrap_or_default();
        let kept: Vec<usize> = (0..keys.len())
            .filter(|&k| file_columns.index_of(&keys[k]).is_err())
            .collect();
        Ok(HiveColumns {
            keys: kept.iter().map(|&k| keys[k].clone()).collect(),
            values: values
                .into_iter()
                .map(|row| kept.iter().map(|&k| row[k].clone()).collect())
                .collect(),
        })
    }

    /// The columns' fields: nullable text.
    pub fn fields(&self) -> Vec<Arc<Field>> {
        (0..self.keys.len()).map(|k| self.field(k)).collect()
    }

    /// The field of column `key`.
    pub fn field(&self, key: usize) -> Arc<Field> {
        Arc::new(Field::new(&self.keys[key], DataType::Utf8, true))
    }

    /// The column `key` of `rows` rows of file `file`: its folder's value on every row.
    pub fn column(&self, file: usize, key: usize, rows: usize) -> ArrayRef {
        let value = self.values[file][key].as_deref();
        Arc::new(std::iter::repeat_n(value, rows).collect::<StringArray>())
    }
}

/// `(key, value)` of each `key=value` folder between `root` and `file`, outermost first.
fn folder_values(root: &Path, file: &Path) -> Vec<(String, Option<String>)> {
    let Ok(relative) = file.strip_prefix(root) else {
        return Vec::new();
    };
    let folders = relative.parent().into_iter().flat_map(Path::components);
    folders
        .filter_map(|c| {
            let name = c.as_os_str().to_str()?;
            if name.starts_with(PART_PREFIX) {
                return None;
            }
            let (key, value) = name.split_once('=')?;
            if key.is_empty() {
                return None;
            }
            let value = (value != NO_VALUE).then(|| unescape(value));
            Some((unescape(key), value))
        })
        .collect()
}

fn folder_list(keys: &[String]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    keys.iter().map(|k| format!("{k}=")).collect::<Vec<_>>().join(", ")
}

/// A folder name's text: Hive writes `%` and the characters a path cannot hold as `%XX`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_values_skip_churnguards_own_partitions_and_read_missing_and_escaped_values() {
        let root = Path::new("/t/events");
        let file =
            root.join("part=3/country=NL/day=2024-01-01%2012%3A00/region=__HIVE_DEFAULT_PARTITION__/part-0.parquet");
        assert_eq!(
            folder_values(root, &file),
            vec![
                ("country".into(), Some("NL".into())),
                ("day".into(), Some("2024-01-01 12:00".into())),
                ("region".into(), None),
            ]
        );
        assert!(folder_values(root, &root.join("plain/x.parquet")).is_empty());
    }

    #[test]
    fn unescape_keeps_what_is_not_an_escape() {
        assert_eq!(unescape("a%2Fb"), "a/b");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%zz%41"), "%zzA");
    }

    #[test]
    fn files_under_other_keys_are_refused_naming_both() {
        let root = Path::new("/t");
        let files = [root.join("a=1/x.parquet"), root.join("b=2/y.parquet")];
        let (file, cause) = HiveColumns::of(root, &files, &Schema::empty()).unwrap_err();
        assert_eq!(file, files[1]);
        assert!(cause.contains("(b=)") && cause.contains("(a=)"), "{cause}");
    }

    #[test]
    fn a_key_the_files_hold_is_read_from_the_files() {
        let root = Path::new("/t");
        let files = [root.join("a=1/b=2/x.parquet")];
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let hive = HiveColumns::of(root, &files, &schema).unwrap();
        assert_eq!(hive.keys, vec!["b".to_string()]);
        let column = hive.column(0, 0, 3);
        assert_eq!(column.len(), 3);
    }
}
