"""TFLite: conversion, the LiteRT runner, metadata (task-agnostic) and the verified export of a run."""
