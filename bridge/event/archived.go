package event

import (
	"fmt"
	"strconv"
)

// StageArchived is the last subject token of a task's archived event
// (<prefix>.<task_id>.archived): the bridge has kept the media of the
// task's complete event in the Object Store, or says why it could not.
// It is not a provider stage.
const StageArchived Stage = "archived"

// ArchivedSchemaPath is the path of the archived event's data schema below
// the schema base URL.
const ArchivedSchemaPath = "/" + Version + "/archived.schema.json"

// ArchivedEventSchemaPath is the path of the schema of f's whole archived
// event.
func (f Family) ArchivedEventSchemaPath() string {
	if f == FamilyVocals {
		return "/" + Version + "/archived-event.schema.json"
	}
	return "/" + Version + "/" + string(f) + ".archived-event.schema.json"
}

// MediaBucket is the default Object Store bucket of archived media.
const MediaBucket = "VOCALS_MEDIA"

// ArchivedType is the type of f's archived event:
// com.sunoapi.<family>.archived.v1.
func (f Family) ArchivedType() string { return f.Type(StageArchived) }

// Archives reports whether f's complete events carry media the bridge can
// archive: its data type lists media (MediaLister).
func (f Family) Archives() bool {
	_, ok := f.NewData().(MediaLister)
	return ok && f.Known()
}

// Kinds of media.
const (
	MediaAudio = "audio"
	MediaImage = "image"
	MediaVideo = "video"
)

// Media is one file the provider serves for a task and deletes after 14-15
// days: which one (ID, unique within the task's kind), what it is (Kind:
// MediaAudio, MediaImage or MediaVideo) and where (URL).
type Media struct {
	ID   string
	Kind string
	URL  string
}

// MediaLister is a data type that names media; every family whose data
// implements it is archived.
type MediaLister interface {
	Media() []Media
}

// ObjectName is the Object Store name of a task's media:
// <family>/<task_id>/<media id>/<kind>.
func ObjectName(f Family, taskID string, m Media) string {
	return string(f) + "/" + taskID + "/" + m.ID + "/" + m.Kind
}

// Media lists each track's audio and cover image, named by the track id;
// a track whose id is empty, or not 1-128 letters, digits, '_' or '-' (as
// a task id must be), by its position (track-1, ...).
func (d DataV1) Media() []Media {
	var out []Media
	for i, t := range d.Tracks {
		id := t.ID
		if !ValidTaskID(id) {
			id = "track-" + strconv.Itoa(i+1)
		}
		out = appendMedia(out, Media{id, MediaAudio, t.AudioURL}, Media{id, MediaImage, t.ImageURL})
	}
	return out
}

// Media lists the WAV file (id wav).
func (d WavV1) Media() []Media { return appendMedia(nil, Media{"wav", MediaAudio, d.AudioWavURL}) }

// Media lists each stem the provider sent, named by the stem.
func (d StemsV1) Media() []Media {
	s := d.Stems
	return appendMedia(nil,
		Media{"origin", MediaAudio, s.OriginURL}, Media{"vocal", MediaAudio, s.VocalURL},
		Media{"instrumental", MediaAudio, s.InstrumentalURL}, Media{"backing-vocals", MediaAudio, s.BackingVocalsURL},
		Media{"drums", MediaAudio, s.DrumsURL}, Media{"bass", MediaAudio, s.BassURL},
		Media{"guitar", MediaAudio, s.GuitarURL}, Media{"keyboard", MediaAudio, s.KeyboardURL},
		Media{"percussion", MediaAudio, s.PercussionURL}, Media{"strings", MediaAudio, s.StringsURL},
		Media{"synth", MediaAudio, s.SynthURL}, Media{"fx", MediaAudio, s.FxURL},
		Media{"brass", MediaAudio, s.BrassURL}, Media{"woodwinds", MediaAudio, s.WoodwindsURL})
}

// Media lists the video (id video).
func (d VideoV1) Media() []Media { return appendMedia(nil, Media{"video", MediaVideo, d.VideoURL}) }

// Media lists each image by position (image-1, ...).
func (d CoverImageV1) Media() []Media {
	var out []Media
	for i, u := range d.Images {
		out = appendMedia(out, Media{"image-" + strconv.Itoa(i+1), MediaImage, u})
	}
	return out
}

// appendMedia keeps the media with a URL and a name not taken yet.
func appendMedia(out []Media, ms ...Media) []Media {
next:
	for _, m := range ms {
		if m.URL == "" {
			continue
		}
		for _, o := range out {
			if o.ID == m.ID && o.Kind == m.Kind {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// Object statuses in an archived event.
const (
	ObjectArchived = "archived" // in the bucket under Name
	ObjectFailed   = "failed"   // not kept: Reason and Error say why
)

// ArchivedV1 is the data of an archived event: one object per media URL of
// the task's complete event.
type ArchivedV1 struct {
	TaskID string `json:"task_id"`
	// SourceEvent is the id of the complete event whose media these are.
	SourceEvent string `json:"source_event"`
	// Bucket is the Object Store bucket the objects are in.
	Bucket  string             `json:"bucket"`
	Objects []ArchivedObjectV1 `json:"objects"` // empty, never null
}

// ArchivedObjectV1 is one media file: kept (Status archived, with its
// object name, size, hex SHA-256 and content type) or not (Status failed,
// with a Reason such as host_not_allowed, too_large, content_type,
// http_status or expired, and the Error in words).
type ArchivedObjectV1 struct {
	MediaID     string `json:"media_id"`
	Kind        string `json:"kind"`
	URL         string `json:"url"`
	Status      string `json:"status"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	Reason      string `json:"reason"`
	Error       string `json:"error"`
}

var _ Result = ArchivedV1{}

// Made reports whether a file was kept.
func (d ArchivedV1) Made() bool {
	for _, o := range d.Objects {
		if o.Status == ObjectArchived {
			return true
		}
	}
	return false
}

// Items describe each file: kept, under its object name, or why not.
func (d ArchivedV1) Items() []string {
	out := make([]string, 0, len(d.Objects))
	for _, o := range d.Objects {
		if o.Status == ObjectArchived {
			out = append(out, fmt.Sprintf("%s %s: %s (%d bytes, %s)", o.Kind, o.MediaID, o.Name, o.Size, o.ContentType))
		} else {
			out = append(out, fmt.Sprintf("%s %s: not kept, %s: %s", o.Kind, o.MediaID, o.Reason, o.Error))
		}
	}
	return out
}
