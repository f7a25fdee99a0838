// A V8 profile's call frame as a source location, shared by profile-summary.mjs (CPU) and
// heap-summary.mjs (allocations): with a service bundle's source map, a bundle frame is named
// by the source it came from.

/** `{ file, line }` of `frame` (1-based line), through `sourceMap` when it covers the frame. */
export const sourceOf = (frame, sourceMap) => {
  if (sourceMap !== undefined && frame.url.endsWith(".mjs")) {
    const entry = sourceMap.findEntry(frame.lineNumber, frame.columnNumber)
    if (entry?.originalSource !== undefined) return { file: entry.originalSource, line: entry.originalLine + 1 }
  }
  return { file: frame.url, line: frame.lineNumber + 1 }
}

/** `function file:line`, dependencies' paths from their package on. */
export const frameName = (frame, sourceMap) => {
  const { file, line } = sourceOf(frame, sourceMap)
  return `${frame.functionName || "(anonymous)"} ${file.replace(/.*node_modules\//, "")}:${line}`
}
