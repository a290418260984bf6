//! The SLO catalog: YAML files in git, loaded into validated SLOs with every
//! problem reported at its file, line and column.

pub mod alerting;
pub mod correction;
pub mod decode;
pub mod diagnostic;
pub mod dialect;
pub mod export;
pub mod external;
pub mod layers;
pub mod loader;
pub mod model;
pub mod native;
pub mod objective;
pub mod promql;
pub mod window;
pub mod yaml;

pub use correction::Correction;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use dialect::Dialect;
pub use loader::{
    LoadError, Loaded, catalog_files, load_paths, load_paths_in, load_str, load_str_in,
};
pub use model::*;
pub use objective::Objective;
pub use window::SloWindow;
