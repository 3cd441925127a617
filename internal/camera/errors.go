package camera

import "errors"

// ErrUnauthorized is wrapped by Run's error when the RTSP server refuses the
// camera's credentials.
var ErrUnauthorized = errors.New("rtsp server refused the credentials")

// errBadClip is wrapped by the errors of a clip the camera cannot publish.
var errBadClip = errors.New("unusable clip")
