//! Operator family: misc (detection, signal processing, training, ai.onnx.ml, text, recurrent conv).
//! GridSample/AffineGrid/RoiAlign/Col2Im/DeformConv live in `nn`, LinearAttention in `linalg`.

use crate::ops::Registry;

pub mod array_feature_extractor;
pub mod binarizer;
pub mod causal_conv_with_state;
pub mod common;
pub mod dft;
pub mod imputer;
pub mod label_encoder;
pub mod linear;
pub mod mel_weight_matrix;
pub mod ml_common;
#[cfg(test)]
mod ml_tests;
pub mod nms;
pub mod one_hot_encoder;
pub mod scaler;
pub mod stft;
pub mod svm;
pub mod tfidf_vectorizer;
pub mod training;
pub mod tree_ensemble;
pub mod window;
pub mod zipmap;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("NonMaxSuppression", 10, nms::build);
    r.add("DFT", 17, dft::build);
    r.add("STFT", 17, stft::build);
    r.add("HannWindow", 17, window::build_hann);
    r.add("HammingWindow", 17, window::build_hamming);
    r.add("BlackmanWindow", 17, window::build_blackman);
    r.add("MelWeightMatrix", 17, mel_weight_matrix::build);
    r.add_domain("ai.onnx.preview.training", "Adagrad", 1, training::build_adagrad);
    r.add_domain("ai.onnx.preview.training", "Adam", 1, training::build_adam);
    r.add_domain("ai.onnx.preview.training", "Momentum", 1, training::build_momentum);
    r.add_domain("ai.onnx.ml", "Binarizer", 1, binarizer::build);
    r.add_domain("ai.onnx.ml", "ArrayFeatureExtractor", 1, array_feature_extractor::build);
    r.add_domain("ai.onnx.ml", "LabelEncoder", 1, label_encoder::build);
    r.add_domain("ai.onnx.ml", "TreeEnsemble", 5, tree_ensemble::build);
    r.add_domain("ai.onnx.ml", "TreeEnsembleClassifier", 1, tree_ensemble::build_classifier);
    r.add_domain("ai.onnx.ml", "TreeEnsembleRegressor", 1, tree_ensemble::build_regressor);
    r.add_domain("ai.onnx.ml", "Scaler", 1, scaler::build_scaler);
    r.add_domain("ai.onnx.ml", "Normalizer", 1, scaler::build_normalizer);
    r.add_domain("ai.onnx.ml", "LinearRegressor", 1, linear::build_regressor);
    r.add_domain("ai.onnx.ml", "LinearClassifier", 1, linear::build_classifier);
    r.add_domain("ai.onnx.ml", "SVMClassifier", 1, svm::build_classifier);
    r.add_domain("ai.onnx.ml", "SVMRegressor", 1, svm::build_regressor);
    r.add_domain("ai.onnx.ml", "Imputer", 1, imputer::build);
    r.add_domain("ai.onnx.ml", "OneHotEncoder", 1, one_hot_encoder::build_one_hot);
    r.add_domain("ai.onnx.ml", "FeatureVectorizer", 1, one_hot_encoder::build_feature_vectorizer);
    r.add_domain("ai.onnx.ml", "ZipMap", 1, zipmap::build);
    r.add("TfIdfVectorizer", 9, tfidf_vectorizer::build);
    r.add("CausalConvWithState", 27, causal_conv_with_state::build);
}
